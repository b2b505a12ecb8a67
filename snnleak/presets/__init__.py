"""The presets shipped with snnleak, read by :mod:`snnleak.reproduce.preset`."""
