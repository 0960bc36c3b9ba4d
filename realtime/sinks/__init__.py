"""Where output frames go: ``virtualcam.VirtualCameraSink`` (video-call apps),
``preview.PreviewSink`` (a window, with hotkeys), ``mp4.Mp4Sink`` (a file),
``null.NullSink`` (benchmarks). Each implements ``vivicam.realtime.protocols.Sink``
and is a context manager; modules are imported only when used."""
