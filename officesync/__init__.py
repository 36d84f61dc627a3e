"""The composition root of the ``officesync`` command: it joins the node, hub, workstation and
tray command groups, so that ``agent`` never imports ``hub`` or ``tray``."""
