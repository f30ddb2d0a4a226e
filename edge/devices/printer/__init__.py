"""Ticket printers (ESC/POS): profile, layout, bytes, transport and status, paper image.

- `profile.PrinterProfile`: what a model can do (firmware-profiles/printers/*.toml).
- `layout.layout`: a `TicketContent` + `sync.tickettemplate.TicketTemplate` → lines for a profile.
- `encode.ticket_bytes`: those lines → one ESC/POS job (Chinese text encoded here, QR, cut).
- `transport.open_printer`: serial/TCP/USB link; `.send(job)`, `.status()` via DLE EOT.
- `image.render_png`: an ESC/POS job → PNG of the paper (simulator, reference images).
"""
