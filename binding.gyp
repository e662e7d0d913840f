{
  "targets": [
    {
      "target_name": "ts_init",
      "sources": [
        "native/addon.cc",
        "native/errors.cc",
        "native/process.cc",
        "native/signals.cc",
        "native/spawn.cc"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "_GNU_SOURCE"
      ],
      "cflags_cc": [
        "-std=c++17",
        "-O2",
        "-Wall",
        "-Wextra",
        "-fstack-protector-strong",
        "-fno-exceptions",
        "-fno-rtti"
      ]
    }
  ]
}
