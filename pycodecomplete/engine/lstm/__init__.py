"""The char-LSTM family's serving side: numpy and ONNX Runtime steppers, the character beam search."""
from pycodecomplete.engine.lstm.engine import ENGINE, LSTMEngine

__all__ = ["ENGINE", "LSTMEngine"]
