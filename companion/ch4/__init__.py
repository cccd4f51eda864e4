"""Chapter 4: CutBlur and data augmentation for low-level vision (thesis §4.3-4.5, Eq. 4.1, Tables 4.1-4.10)."""
