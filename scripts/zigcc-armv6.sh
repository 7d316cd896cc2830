#!/bin/sh
# Linker for arm-unknown-linux-musleabihf: zig builds musl for the ARM1176 and links statically.
exec cargo-zigbuild zig cc -- -fno-sanitize=all -mcpu=arm1176jzf_s -target arm-linux-musleabihf "$@"
