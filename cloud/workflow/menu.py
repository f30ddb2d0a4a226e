"""The portal's menu entries of the work table, the flow designer and onboarding."""

from __future__ import annotations

from cloud.identity.menus import MenuEntry, contribute

__all__ = ["ENTRIES"]

ENTRIES = tuple(
    contribute(entry)
    for entry in (
        MenuEntry("workflow", "流程", sort=20),
        MenuEntry("workflow.todo", "待办件", "/portal/work/todo", parent="workflow", sort=1),
        MenuEntry(
            "workflow.involved", "参与件", "/portal/work/involved", parent="workflow", sort=2
        ),
        MenuEntry("workflow.done", "已办件", "/portal/work/done", parent="workflow", sort=3),
        MenuEntry(
            "workflow.supervise",
            "督办",
            "/portal/work/supervise",
            permission="workflow.supervise",
            parent="workflow",
            sort=4,
        ),
        MenuEntry(
            "workflow.flows",
            "流程设计",
            "/portal/flows",
            permission="workflow.design",
            parent="workflow",
            sort=5,
        ),
        MenuEntry("onboarding", "入驻管理", sort=21),
        MenuEntry(
            "onboarding.department_entry",
            "部门进驻备案",
            "/portal/onboarding/department-entry",
            permission="onboarding.apply",
            parent="onboarding",
            sort=1,
        ),
        MenuEntry(
            "onboarding.department_exit",
            "部门调离备案",
            "/portal/onboarding/department-exit",
            permission="onboarding.apply",
            parent="onboarding",
            sort=2,
        ),
        MenuEntry(
            "onboarding.departments",
            "进驻部门查询",
            "/portal/onboarding/departments",
            permission="stationed_department.view",
            parent="onboarding",
            sort=3,
        ),
        MenuEntry(
            "onboarding.staff_entry",
            "人员入驻备案",
            "/portal/onboarding/staff-entry",
            permission="onboarding.apply",
            parent="onboarding",
            sort=4,
        ),
        MenuEntry(
            "onboarding.staff_cancel",
            "人员取消备案",
            "/portal/onboarding/staff-cancel",
            permission="onboarding.apply",
            parent="onboarding",
            sort=5,
        ),
        MenuEntry(
            "onboarding.staff_reinstate",
            "人员复职审批",
            "/portal/onboarding/staff-reinstate",
            permission="onboarding.apply",
            parent="onboarding",
            sort=6,
        ),
        MenuEntry(
            "onboarding.staff",
            "入驻人员查询",
            "/portal/onboarding/staff",
            permission="onboarding_staff.view",
            parent="onboarding",
            sort=7,
        ),
    )
)
