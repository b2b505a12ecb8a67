"""Running trials: the one resumable loop, its records and outputs, and the trial runner."""
