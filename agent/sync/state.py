"""The per-dataset sync state beside connectivity, pure: ``ok``, ``refused`` (the hub refuses
this dataset: it does not have it, or has not granted it to this node) or ``failing`` (a sync
task keeps failing). Shown in the control ``/status``, the LAN ``sync`` summary and
``sync/issues``, the tray and the dashboard, each with what the office must do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from protocol.errors import ErrorCode
from protocol.i18n import Text

State = Literal["ok", "refused", "failing"]
REFUSAL_CODES = frozenset({ErrorCode.DATASET_NOT_FOUND, ErrorCode.FORBIDDEN})

_ASK = Text(
    "Các thay đổi vẫn được giữ trên máy chủ này nhưng chưa đồng bộ được. Hãy nhờ quản trị "
    "viên Cloud cấp dữ liệu này cho máy chủ này, hoặc đăng ký lại (officesync enroll) bằng mã "
    "có cấp dữ liệu này; sau đó dữ liệu tự đồng bộ, không cần khởi động lại",
    "Changes are kept on this node but cannot sync. Ask the hub administrator to grant this "
    "dataset to this node, or re-enroll (officesync enroll) with a code that grants it; it "
    "then syncs by itself, no restart needed.",
)
_MESSAGES: dict[str, Text] = {
    ErrorCode.DATASET_NOT_FOUND.value: Text(
        "Cloud không có dữ liệu kế toán {dataset}. " + _ASK.vi
        + " (quản trị viên tạo dữ liệu bằng officesync hub dataset create {dataset})",
        "The cloud hub has no accounting dataset {dataset}. " + _ASK.en
        + " (the administrator creates it with officesync hub dataset create {dataset})",
    ),
    ErrorCode.FORBIDDEN.value: Text(
        "Cloud chưa cấp dữ liệu kế toán {dataset} cho máy chủ này. " + _ASK.vi,
        "The cloud hub has not granted accounting dataset {dataset} to this node. " + _ASK.en,
    ),
    "failing": Text(
        "Đồng bộ dữ liệu kế toán {dataset} đang gặp lỗi lặp lại{code}; máy chủ tự thử lại. "
        "Nếu lỗi kéo dài, hãy gửi nhật ký (log) của dịch vụ cho bộ phận hỗ trợ",
        "Syncing accounting dataset {dataset} keeps failing{code}; the node retries by "
        "itself. If it lasts, send the service's log to support.",
    ),
}


@dataclass(frozen=True)
class DatasetSyncState:
    state: State = "ok"
    code: str | None = None
    dataset: str = ""

    @property
    def ok(self) -> bool:
        return self.state == "ok"

    def messages(self) -> dict[str, str] | None:
        if self.state == "ok":
            return None
        key = self.code if self.state == "refused" and self.code in _MESSAGES else "failing"
        code = f" ({self.code})" if self.code else ""
        return _MESSAGES[key].format(dataset=self.dataset, code=code).as_dict()

    def as_json(self) -> dict[str, Any]:
        """``{"state", "code", "message": None | {"vi", "en"}}``, the shape every API shows."""
        return {"state": self.state, "code": self.code, "message": self.messages()}


OK = DatasetSyncState()


def ok_state(dataset: str) -> DatasetSyncState:
    return DatasetSyncState("ok", None, dataset)


def refused(dataset: str, code: ErrorCode | str) -> DatasetSyncState:
    return DatasetSyncState("refused", str(code), dataset)


def failing(dataset: str, code: ErrorCode | str | None = None) -> DatasetSyncState:
    return DatasetSyncState("failing", None if code is None else str(code), dataset)


def combine(dataset: str, problems: list[DatasetSyncState], tasks_failing: bool) -> \
        DatasetSyncState:
    """One state for a dataset from its loops' problems: a refusal wins (it says what to
    do), then a failing loop, then ``ok``."""
    for problem in problems:
        if problem.state == "refused":
            return problem
    for problem in problems:
        if problem.state == "failing":
            return problem
    return failing(dataset) if tasks_failing else ok_state(dataset)
