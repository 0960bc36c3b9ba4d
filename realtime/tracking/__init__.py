"""Face tracking: MediaPipe face mesh for live frames (``mediapipe_tracker``)
and face finding on avatar photos (``detect``)."""
