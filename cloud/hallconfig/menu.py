"""The portal's menu entries of the halls' configuration (基础管理, §21.2; §4 set-up)."""

from __future__ import annotations

from cloud.identity.menus import MenuEntry, contribute

__all__ = ["ENTRIES"]

ENTRIES = tuple(
    contribute(entry)
    for entry in (
        MenuEntry("halls", "大厅配置", sort=30, icon="hall"),
        MenuEntry(
            "halls.list",
            "大厅列表",
            "/portal/halls",
            permission="hall_config.view",
            parent="halls",
            sort=1,
        ),
    )
)
