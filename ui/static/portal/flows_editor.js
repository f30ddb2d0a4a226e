// The flow designer's step editor (Alpine.js): add, remove and reorder steps and their
// approvers; the form posts the steps as JSON in its hidden `steps` field, and the server
// validates them (its errors come back by step, `errors["step<i>"]`).
"use strict";

(() => {
  let next = 0;
  const uid = () => `n${++next}`;
  const approver = (a) => ({ type: "department_head", user: "", role: "", unit: "", ...a, uid: uid() });
  const step = (s) => ({
    name: "", mode: "any", on_reject: "applicant", ...s, uid: uid(),
    approvers: (s.approvers && s.approvers.length ? s.approvers : [{}]).map(approver),
  });
  // only what the chosen kind of approver needs
  const picked = { user: "user", role: "role", department_role: "role", unit_head: "unit" };

  window.flowEditor = (initial) => ({
    steps: (initial.steps || []).map(step),
    errors: initial.errors || {},
    addStep() { this.steps.push(step({})); this.errors = {}; },
    removeStep(i) { this.steps.splice(i, 1); this.errors = {}; },
    move(i, by) {
      const j = i + by;
      if (j < 0 || j >= this.steps.length) return;
      const [moved] = this.steps.splice(i, 1);
      this.steps.splice(j, 0, moved);
      this.errors = {};
    },
    addApprover(s) { s.approvers.push(approver({})); },
    removeApprover(s, k) { s.approvers.splice(k, 1); },
    payload() {
      return JSON.stringify(this.steps.map((s) => ({
        name: s.name.trim(), mode: s.mode, on_reject: s.on_reject,
        approvers: s.approvers.map((a) => {
          const out = { type: a.type };
          if (picked[a.type]) out[picked[a.type]] = a[picked[a.type]];
          return out;
        }),
      })));
    },
  });
})();
