"""uploader: a bulk uploader for AWS CodeArtifact generic packages, and an emulator to test it."""

__version__ = "0.1.0"
