"""Frames over time: video sources (camera, file, stream, Picamera2, folder, demo), the threaded
pipeline, tracking and smoothing, outputs (JSON lines, window, video) and run metrics.

Imports edge.vision and edge's common modules, never edge.service."""
