"""The edit chain: invert a photo, edit concept units under a mask, adapt fine layers, paste back."""
