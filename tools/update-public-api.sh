#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "$0")/.."
for project in $(grep -l '<IsPackable>true</IsPackable>' src/*/*.csproj); do
  printf '#nullable enable\n' > "$(dirname "$project")/PublicAPI.Unshipped.txt"
  dotnet format analyzers "$project" --diagnostics RS0016 --severity warn
done
