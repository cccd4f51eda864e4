"""Data layer: embedded images, dataset folders, downloads, distortions and generated datasets."""
