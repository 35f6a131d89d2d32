from .dsrsd_net import DSRSDNet, stream_names

__all__ = ["DSRSDNet", "stream_names"]
