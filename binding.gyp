# node-gyp build for the aioloop addon -> build/Release/aioloop.node
# (build/Debug/aioloop.node with --debug).
#
# Keep 'aioloop_sources' in the same order as AIOLOOP_SOURCES in
# CMakeLists.txt: the two build files must compile identical code.
{
  'variables': {
    'aioloop_sources': [
      'native/addon.cc',
      # One pair per libuv handle kind:
      'native/loop.cc',
      'native/timer_heap.cc',
      'native/stream.cc',
      'native/tcp.cc',
      'native/pipe.cc',
      'native/udp.cc',
      'native/signal.cc',
      'native/dns.cc',
      'native/process.cc',
    ],
  },
  'targets': [
    {
      'target_name': 'aioloop',
      'sources': [ '<@(aioloop_sources)' ],
      # node_addon_api_except adds node-addon-api's include dir,
      # NAPI_CPP_EXCEPTIONS and the per-OS "exceptions on" settings.
      'dependencies': [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except",
      ],
      'include_dirs': [ 'native' ],
      'defines': [
        'NAPI_VERSION=8',
        'NODE_ADDON_API_DISABLE_DEPRECATED',
        'NAPI_CPP_EXCEPTIONS',
        # A worker being terminated cannot take a JS exception: without this,
        # node-addon-api's failed napi_throw ends in std::terminate.
        'NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS',
      ],
      # Node's common.gypi forces -fno-exceptions -fno-rtti -std=gnu++17.
      # Exceptions carry argument errors to JS; RTTI stays on so this build
      # matches the CMake/sanitizer build (UBSan's vptr check needs it).
      'cflags!': [ '-fno-exceptions' ],
      'cflags_cc!': [ '-fno-exceptions', '-fno-rtti', '-std=gnu++17' ],
      'cflags_cc': [ '-std=c++17', '-fexceptions', '-frtti' ],
      # Only napi_register_module_v1 (marked visible by node_api.h) needs to
      # leave the .node; hiding the rest avoids clashes with other addons.
      'cflags': [ '-fvisibility=hidden' ],
      'conditions': [
        ['OS=="mac"', {
          'xcode_settings': {
            'GCC_ENABLE_CPP_EXCEPTIONS': 'YES',
            'GCC_ENABLE_CPP_RTTI': 'YES',
            'CLANG_CXX_LANGUAGE_STANDARD': 'c++17',
            'CLANG_CXX_LIBRARY': 'libc++',
            'MACOSX_DEPLOYMENT_TARGET': '11.0',
            'GCC_SYMBOLS_PRIVATE_EXTERN': 'YES',  # -fvisibility=hidden
          },
        }],
        ['OS=="win"', {
          'msvs_settings': {
            'VCCLCompilerTool': {
              'ExceptionHandling': 1,  # /EHsc
              'RuntimeTypeInfo': 'true',
              'AdditionalOptions': [ '/std:c++17' ],
            },
          },
        }],
      ],
      'configurations': {
        'Release': {
          # common.gypi already uses -O3 on Linux; explicit so it is not a
          # silent dependency on Node's defaults (and for Xcode).
          'cflags': [ '-O3' ],
          'cflags_cc': [ '-O3' ],
          'xcode_settings': { 'GCC_OPTIMIZATION_LEVEL': '3' },
        },
        'Debug': {
          'defines': [ 'AIOLOOP_DEBUG' ],
        },
      },
    },
  ],
}
