"""The node's connection to the cloud hub: :mod:`agent.cloud.client` is the only code that
talks to it."""
