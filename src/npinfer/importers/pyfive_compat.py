"""A fix for pyfive < 1.2 reading variable-length strings (Keras's `model_config` attribute).

pyfive's GlobalHeap.objects read past the end of a heap collection when fewer than 16 bytes
of padding were left after the last object (libhdf5 writes the free-space marker only when
a whole object header fits). pyfive 1.2.0 fixed it with the loop condition below; npinfer
depends on pyfive < 1.1 because later releases need NumPy 2 and pull in fsspec and numcodecs,
so older releases get the same fix here. Newer pyfive is left untouched.
"""

from __future__ import annotations

import struct
from collections import OrderedDict


def patch_global_heap() -> None:
    """Install the pyfive 1.2 GlobalHeap.objects loop on older pyfive releases (idempotent)."""
    from pyfive import misc_low_level as low

    heap_class = getattr(low, "GlobalHeap", None)
    if heap_class is None or getattr(heap_class, "_npinfer_patched", False) or _is_fixed_release():
        return

    def objects(self):
        if self._objects is None:
            self._objects = OrderedDict()
            offset = 0
            while offset + low.GLOBAL_HEAP_OBJECT_SIZE <= len(self.heap_data):
                info = low._unpack_struct_from(low.GLOBAL_HEAP_OBJECT, self.heap_data, offset)
                if info["object_index"] == 0:
                    break
                offset += low.GLOBAL_HEAP_OBJECT_SIZE
                data = struct.unpack_from("<" + str(info["object_size"]) + "s", self.heap_data, offset)[0]
                self._objects[info["object_index"]] = data
                offset += low._padded_size(info["object_size"])
        return self._objects

    heap_class.objects = property(objects, doc="Dictionary of objects in the heap.")
    heap_class._npinfer_patched = True


def _is_fixed_release() -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        parts = version("pyfive").split(".")
        return (int(parts[0]), int(parts[1])) >= (1, 2)
    except (PackageNotFoundError, ValueError, IndexError):
        return False
