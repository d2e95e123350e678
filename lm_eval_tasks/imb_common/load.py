"""Load a module of imb_common from a file that lm-eval imported by its path.

lm-eval imports a task folder's `utils.py` by its file path, not as part of a package, so
`utils.py` cannot import its sibling folder. It runs this file instead (`runpy.run_path`) and
calls `load`, the one copy of the lookup:

- as the package `lm_eval_tasks.imb_common` when that is this very folder (the IMB toolkit
  imports it by that name, so both see one module, one BERTScore model, one index cache);
- else from its path, as a package named after the folder's location (a copy of the task
  folders anywhere, with no IMB toolkit installed).
"""

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

SHARED = Path(__file__).resolve().parent


def load(module: str):
    """imb_common.`module`, loaded once per process."""
    try:
        spec = importlib.util.find_spec("lm_eval_tasks.imb_common")
    except ImportError:
        spec = None
    if spec is not None and spec.origin and Path(spec.origin).resolve().parent == SHARED:
        return importlib.import_module(f"lm_eval_tasks.imb_common.{module}")
    package = "imb_common_" + hashlib.blake2b(str(SHARED).encode(), digest_size=6).hexdigest()
    if package not in sys.modules:
        spec = importlib.util.spec_from_file_location(package, SHARED / "__init__.py",
                                                      submodule_search_locations=[str(SHARED)])
        sys.modules[package] = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(sys.modules[package])
        except BaseException:
            del sys.modules[package]
            raise
    return importlib.import_module(f"{package}.{module}")
