#!/usr/bin/env bash
# The one device command (tools/gpu/README.md): unpacks the bundle, binds TorchSharp's LibTorchSharp to the device's
# libtorch (rebuilding it from TorchSharp's native source if `ldd -r` reports unbound symbols and the bundle carries the
# source), and runs the GPU check. Results under $OUT: gpu-check.jsonl (one JSON line per result), gpu-check.log, ldd.txt.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bundle="$here/bundle"
out="${OUT:-$PWD/gpu-out}"
mkdir -p "$out"
work=/tmp/gpt2-gpu
rm -rf "$work" && mkdir -p "$work/dotnet"
tar -C "$work/dotnet" -xJf "$bundle/dotnet-runtime.tar.xz"
tar -C "$work" -xJf "$bundle/app.tar.xz"
export DOTNET_ROOT="$work/dotnet" PATH="$work/dotnet:$PATH" DOTNET_CLI_TELEMETRY_OPTOUT=1
torch_lib=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))' > "$out/ldd.txt" 2>&1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >> "$out/ldd.txt" 2>&1

libtorchsharp=$(find "$work/app" -name libLibTorchSharp.so | head -n 1)
echo "== ldd -r $libtorchsharp" >> "$out/ldd.txt"
ldd -r "$libtorchsharp" >> "$out/ldd.txt" 2>&1
if grep -E -q "undefined symbol|not found" "$out/ldd.txt"; then
    if [[ -f "$bundle/torchsharp-native.tar.gz" ]]; then
        echo "== unbound symbols: building LibTorchSharp against the device's libtorch" >> "$out/ldd.txt"
        if bash "$here/build-libtorchsharp.sh" "$bundle/torchsharp-native.tar.gz" "$work/native" >> "$out/ldd.txt" 2>&1; then
            cp "$work/native/build/out/LibTorchSharp/libLibTorchSharp.so" "$libtorchsharp"
            echo "== ldd -r (rebuilt)" >> "$out/ldd.txt"
            ldd -r "$libtorchsharp" >> "$out/ldd.txt" 2>&1
        fi
    else
        echo "== unbound symbols and no torchsharp-native.tar.gz in the bundle (build it with TORCHSHARP_GIT set)" >> "$out/ldd.txt"
    fi
fi

# At most 7 minutes for the check itself, so the whole command stays inside 8.
timeout 420 dotnet "$work/app/Gpt2.GpuCheck.dll" --device cuda --root "$bundle" --out "$out" > "$out/gpu-check.log" 2>&1
echo "exit $?" >> "$out/gpu-check.log"
cat "$out/gpu-check.jsonl" 2>/dev/null
