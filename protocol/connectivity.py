"""Connectivity between a node and the hub: one enum, each state with a message that tells
the user what to do (docs/protocol.md, scenario S7)."""

from __future__ import annotations

from enum import StrEnum

from protocol.i18n import Text


class Connectivity(StrEnum):
    """The node's connection to the hub, one state at a time (docs/protocol.md)."""

    ONLINE = "online"
    OFFLINE_BY_USER = "offline_by_user"
    NO_NETWORK = "no_network"
    CLOUD_UNAVAILABLE = "cloud_unavailable"
    AUTH_FAILED = "auth_failed"
    UPGRADE_REQUIRED = "upgrade_required"
    NOT_CONFIGURED = "not_configured"

    @property
    def is_online(self) -> bool:
        """True only when the node syncs with the hub now."""
        return self is Connectivity.ONLINE

    @property
    def text(self) -> Text:
        """What this state means for the user and what to do, in both languages."""
        return CONNECTIVITY_MESSAGES[self]

    def messages(self) -> dict[str, str]:
        """The state's message in its wire shape, ``{"vi": …, "en": …}``."""
        return CONNECTIVITY_MESSAGES[self].as_dict()


CONNECTIVITY_MESSAGES: dict[Connectivity, Text] = {
    Connectivity.ONLINE: Text(
        "Đang làm việc online: dữ liệu được đồng bộ tự động",
        "Working online: data syncs automatically.",
    ),
    Connectivity.OFFLINE_BY_USER: Text(
        "Đang làm việc ở chế độ offline theo lựa chọn của bạn. Dữ liệu được lưu và chờ đồng bộ; "
        "bật \"Làm việc online\" để đồng bộ",
        "Working offline by your choice. Data is kept and waits to sync; "
        "turn on \"Work online\" to sync.",
    ),
    Connectivity.NO_NETWORK: Text(
        "Không có kết nối mạng, hoặc làm việc ở chế độ offline. Hãy kiểm tra kết nối Internet; "
        "dữ liệu vẫn được lưu và sẽ tự động đồng bộ khi có mạng",
        "No network connection, or working in offline mode. Check the Internet connection; "
        "data is kept and will sync by itself when the network returns.",
    ),
    Connectivity.CLOUD_UNAVAILABLE: Text(
        "Máy chủ Cloud tạm thời không phản hồi. Không cần thao tác gì: dữ liệu được lưu và "
        "sẽ tự động đồng bộ khi Cloud hoạt động trở lại",
        "The cloud service is not responding. Nothing to do: data is kept and will sync by "
        "itself when the cloud is back.",
    ),
    Connectivity.AUTH_FAILED: Text(
        "Cloud từ chối xác thực máy chủ này. Hãy đăng ký lại máy chủ (officesync enroll) "
        "với mã mới từ quản trị viên",
        "The cloud rejected this server's credentials. Enroll this server again "
        "(officesync enroll) with a new code from your administrator.",
    ),
    Connectivity.UPGRADE_REQUIRED: Text(
        "Cloud yêu cầu phiên bản mới hơn. Hãy cập nhật chương trình trên máy chủ này rồi "
        "khởi động lại; dữ liệu chờ đồng bộ vẫn được giữ",
        "The cloud requires a newer version. Upgrade the program on this server and restart "
        "it; pending data is kept.",
    ),
    Connectivity.NOT_CONFIGURED: Text(
        "Chưa cấu hình Cloud: máy chủ đang làm việc độc lập. Hãy khai báo địa chỉ Cloud và "
        "đăng ký máy chủ để đồng bộ",
        "No cloud configured: this server works standalone. Set the cloud URL and enroll "
        "this server to sync.",
    ),
}
