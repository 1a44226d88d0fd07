#!/usr/bin/env bash
# Builds tools/gpu/bundle/ (git-ignored), everything one device run needs, under the device tool's 64 MiB:
#   app.tar.xz              the GPU check (Gpt2.GpuCheck), published framework-dependent for linux-x64 with the plain
#                           TorchSharp package (no libtorch: the device's PyTorch provides it)
#   dotnet-runtime.tar.xz   the .NET runtime of this machine's SDK (../shared/docs/gpu.md)
#   fixtures/tiny-gpt2, fixtures/families (the Llama family's four), data/SMSSpamCollection
#   torchsharp-native.tar.gz  only with TORCHSHARP_GIT set: TorchSharp's src/Native at v0.107.0, for the fallback build of
#                           LibTorchSharp against the device's libtorch (build-libtorchsharp.sh). TORCHSHARP_GIT is a git
#                           directory of github.com/dotnet/TorchSharp (a mirror, a clone's .git); nothing is downloaded here.
#                           TORCHSHARP_REF names the commit when the git directory lacks the v0.107.0 tag (see README.md).
# Usage: tools/gpu/build-bundle.sh   (then see tools/gpu/README.md for the one device command)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bundle="$here/bundle"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$bundle"
mkdir -p "$bundle/fixtures" "$bundle/data"

dotnet publish "$here/Gpt2.GpuCheck/Gpt2.GpuCheck.csproj" -c Release -r linux-x64 --self-contained false \
    -p:ReferencesTorchBackend=false -o "$work/app" --nologo -v quiet
# Debug symbols and documentation are not needed to run.
find "$work/app" \( -name '*.pdb' -o -name '*.xml' -o -name '*.dbg' \) -delete
if find "$work/app" -name 'libtorch_cpu.so*' | grep -q .; then
    echo "The publish output holds a libtorch: the plain TorchSharp package was expected (no backend package)." >&2
    exit 1
fi
tar -C "$work" -cJf "$bundle/app.tar.xz" app

dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")
tar -C "$dotnet_root" -cJf "$bundle/dotnet-runtime.tar.xz" dotnet host shared/Microsoft.NETCore.App

cp -r "$repo/test/Gpt2.Torch.Tests/Fixtures/tiny-gpt2" "$repo/test/Gpt2.Torch.Tests/Fixtures/families" "$bundle/fixtures/"
rm -f "$bundle/fixtures/families/make_fixtures.py" "$bundle/fixtures/families/README.md"
cp "$repo/data/SMSSpamCollection" "$bundle/data/"

if [[ -n "${TORCHSHARP_GIT:-}" ]]; then
    git --git-dir="$TORCHSHARP_GIT" archive --format=tar.gz -o "$bundle/torchsharp-native.tar.gz" "${TORCHSHARP_REF:-v0.107.0}" src/Native
fi

size=$(du -sb "$bundle" | cut -f1)
echo "bundle: $bundle, $((size / 1024 / 1024)) MiB"
ls -l "$bundle"
if (( size > 60 * 1024 * 1024 )); then
    echo "The bundle is over 60 MiB; the working tree that travels must stay under 64 MiB." >&2
    exit 1
fi
