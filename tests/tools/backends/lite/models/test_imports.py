"""Importing the wrappers is cheap: runtimes load only when a model is first used."""

import subprocess
import sys


def test_modules_import_without_heavy_runtimes():
    code = (
        "import sys\n"
        "import tools.backends.lite.models.assets, tools.backends.lite.models.ssd_detector, tools.backends.lite.models.image_classifier\n"
        "import tools.backends.lite.models.text_embedder, tools.backends.lite.models.phrase_mapping, tools.backends.lite.models.ocr, tools.backends.core.colors\n"
        "heavy = {'cv2', 'torch', 'onnxruntime', 'ai_edge_litert', 'sentence_transformers', 'rapidocr_onnxruntime'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
