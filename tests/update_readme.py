"""Rewrite the README's tensor-tier operator table, backend counts and refusal table from the code:

    python tests/update_readme.py      (from the repository root)
"""
import re, subprocess, sys
sys.path.insert(0, "tests")
import test_readme_layers as t
readme = open("README.md").read()
lines = readme.split("\n")
b, e = lines.index(t.BEGIN), lines.index(t.END)
lines[b + 1:e] = t.operator_table()
readme = "\n".join(lines)
out = subprocess.run([sys.executable, "tests/onnx_backend.py", "--readme"], capture_output=True, text=True).stdout.strip().split("\n")
counts, table = out[0], "\n".join(out[1:])
readme = re.sub(r"\*\*(BACKEND_COUNTS|[\d,]+ pass, [\d,]+ are refused by name, \d+ wrong)\*\*", f"**{counts}**", readme)
start = readme.index("keeps WRONG at 0 and PASS at least its floor). What is refused, and why:\n\n") + len("keeps WRONG at 0 and PASS at least its floor). What is refused, and why:\n\n")
end = readme.index("\n\nPublished models: silero-vad")
readme = readme[:start] + table + readme[end:]
open("README.md", "w").write(readme)
print(counts)
