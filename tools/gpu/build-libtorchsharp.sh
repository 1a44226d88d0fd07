#!/usr/bin/env bash
# The fallback when TorchSharp 0.107's libLibTorchSharp.so (built for libtorch 2.10) does not bind to the device's libtorch:
# builds LibTorchSharp from TorchSharp's native source (src/Native at v0.107.0, carried in the bundle by build-bundle.sh
# with TORCHSHARP_GIT) with CMake against the libtorch of the device's PyTorch. Runs on the device (CMake, ninja, a C++
# compiler and CUDA are there). Output: OUT_DIR/build/out/LibTorchSharp/libLibTorchSharp.so.
# Usage: build-libtorchsharp.sh torchsharp-native.tar.gz OUT_DIR
set -euo pipefail
source_archive=$1
dir=$2
mkdir -p "$dir/src"
tar -C "$dir/src" -xzf "$source_archive"
native="$dir/src/src/Native"
# PyTorch's wheels use the C++11 string ABI; TorchSharp's CMakeLists pins the old one and treats warnings as errors, which a
# newer compiler or libtorch's headers can trip: follow the installed torch's ABI and keep warnings as warnings.
abi=$(python3 -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
sed -i -e "s/-D_GLIBCXX_USE_CXX11_ABI=0/-D_GLIBCXX_USE_CXX11_ABI=$abi/" -e 's/add_definitions(-Werror)//' "$native/CMakeLists.txt"
# The CMakeLists includes ${CMAKE_BINARY_DIR}/../../ (here $dir) for the _version.h TorchSharp's own build writes.
mkdir -p "$dir/build/out"
touch "$dir/_version.h"
prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
cmake -S "$native" -B "$dir/build/out" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" -DLIBTORCH_PATH="$prefix/Torch"
cmake --build "$dir/build/out" --target LibTorchSharp -j "$(nproc)"
