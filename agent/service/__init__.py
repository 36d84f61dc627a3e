"""Running the node as an operating-system service: systemd notifications and watchdog
(``sdnotify``), a thread-safe stop request (``stop``) and the Windows service (``windows``)."""
