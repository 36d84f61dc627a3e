"""Sample data shared by the benchmarks: ~300-byte customer records."""

from __future__ import annotations


def customer(i: int) -> dict[str, str]:
    return {
        "code": f"KH{i:07d}",
        "name": f"Công ty TNHH Thương mại và Dịch vụ Số {i}",
        "tax_code": f"{i:010d}",
        "address": f"Số {i % 500} đường Nguyễn Trãi, Phường Bến Thành, Quận 1, TP Hồ Chí Minh, "
        "Việt Nam (tầng 3, toà nhà văn phòng)",
        "phone": f"028{i:08d}",
    }
