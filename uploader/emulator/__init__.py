"""A CodeArtifact-compatible HTTP server for tests, demos and users' own pipelines.

`Emulator` runs on the caller's event loop; `EmulatorThread` runs one in a thread of its
own so that synchronous clients (boto3, the AWS CLI) and other loops can use it.
"""

from uploader.emulator.server import Emulator, EmulatorThread

__all__ = ["Emulator", "EmulatorThread"]
