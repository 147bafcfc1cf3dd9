"""Rasterizer benchmark table; the same as ``spatialwm bench raster [options]``.

.venv/bin/python benchmarks/raster.py --sizes 100000 --resolutions 640x480
"""

import sys

from spatialwm.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "raster", *sys.argv[1:]]))
