"""One image in, faces out: inference backends, the model and its contract checks, face detectors,
alignment, decoding of the outputs, the analyzer that ties them, drawing, and `predict` on files.

Imports only edge's common modules (errors, types, contract, imageio, progress), never edge.live or
edge.service."""
