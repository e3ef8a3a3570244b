"""Offline judges for the ESC and safety tracks: judge bundles scored with onnxruntime."""
