"""Datasets: procedural landscapes and folders of label/image pairs."""
