"""Images: reading IDX files, arrays and class folders into one uint8 array with labels."""
