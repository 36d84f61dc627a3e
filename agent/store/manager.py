"""The datasets a node hosts: one :class:`DatasetStore` (one SQLite file) each.

A dataset whose file exists but is not connected keeps its pending changes on disk; a
workstation asking for it gets ``DATASET_NOT_CONNECTED`` (scenario S3).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from agent.events import DatasetEvent, EventBus
from agent.store.dataset import DatasetStore
from protocol.accounting import ACCOUNTING_PACK
from protocol.errors import ErrorCode, ProtocolError
from protocol.i18n import Lang, Text
from protocol.models import DATASET_ID_PATTERN
from protocol.schema import SchemaRegistry

_DATASET_ID = re.compile(DATASET_ID_PATTERN)


class StoreManager:
    def __init__(
        self,
        data_dir: Path,
        *,
        registry: SchemaRegistry = ACCOUNTING_PACK,
        bus: EventBus | None = None,
        node_id: str = "",
        language: Lang = "vi",
        local_numbering: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.registry = registry
        self.bus = bus
        self.node_id = node_id
        self.language: Lang = language
        self.local_numbering = local_numbering
        self._open: dict[str, DatasetStore] = {}

    @property
    def datasets_dir(self) -> Path:
        return self.data_dir / "datasets"

    def path_of(self, dataset_id: str) -> Path:
        if not _DATASET_ID.match(dataset_id):
            raise ProtocolError(ErrorCode.DATASET_NOT_FOUND, {"dataset": dataset_id})
        return self.datasets_dir / f"{dataset_id}.db"

    async def open(self, dataset_ids: Iterable[str]) -> None:
        for dataset_id in dataset_ids:
            await self.connect(dataset_id)

    async def connect(self, dataset_id: str) -> DatasetStore:
        if dataset_id in self._open:
            return self._open[dataset_id]
        store = DatasetStore(
            dataset_id,
            self.path_of(dataset_id),
            registry=self.registry,
            bus=self.bus,
            language=self.language,
            local_numbering=self.local_numbering,
        )
        await store.open()
        self._open[dataset_id] = store
        if self.bus is not None:
            self.bus.publish(DatasetEvent(dataset=dataset_id, connected=True))
        return store

    async def disconnect(self, dataset_id: str) -> None:
        """Stop hosting a dataset; its file, with every pending change, stays."""
        store = self._open.pop(dataset_id, None)
        if store is not None:
            await store.close()
            if self.bus is not None:
                self.bus.publish(DatasetEvent(dataset=dataset_id, connected=False))

    def get(self, dataset_id: str) -> DatasetStore:
        store = self._open.get(dataset_id)
        if store is not None:
            return store
        hosted = ", ".join(sorted(self._open)) or "—"
        if _DATASET_ID.match(dataset_id) and self.path_of(dataset_id).exists():
            ask = Text(f"nhờ quản trị viên chạy: officesync dataset connect {dataset_id}",
                       f"ask the administrator to run: officesync dataset connect {dataset_id}")
            hint = (Text(f". Dữ liệu đang kết nối: {hosted}. Hãy chọn một trong số đó, hoặc "
                         f"{ask.vi}", f" Connected datasets: {hosted}. Use one of them, or "
                         f"{ask.en}") if self._open else
                    Text(f". Hiện không có dữ liệu nào khác đang kết nối: hãy {ask.vi}",
                         f" No other dataset is connected: {ask.en}"))
            raise ProtocolError(
                ErrorCode.DATASET_NOT_CONNECTED, {"dataset": dataset_id, "hint": hint},
                {"dataset": dataset_id, "connected": sorted(self._open)},
            )
        raise ProtocolError(
            ErrorCode.DATASET_NOT_FOUND,
            {"dataset": dataset_id[:80],
             "hint": Text(f". Máy chủ này có: {hosted}", f" This node has: {hosted}.")},
            {"dataset": dataset_id[:80], "datasets": sorted(self._open)},
        )

    def connected(self) -> list[DatasetStore]:
        return list(self._open.values())

    def hosted(self) -> list[tuple[str, bool]]:
        known: set[str] = set()
        if self.datasets_dir.exists():
            known = {p.stem for p in self.datasets_dir.glob("*.db")}
        known |= set(self._open)
        return [(d, d in self._open) for d in sorted(known)]

    async def close(self) -> None:
        for dataset_id in list(self._open):
            store = self._open.pop(dataset_id)
            await store.close()
