# Build description for `PYTHON=/usr/bin/python3 uwsgi --build-plugin .`
# (uWSGI's plugin builder executes this file; `make` builds the same sources).
import os
import subprocess

NAME = 'leakwatch'

PYTHON_CONFIG = '/usr/bin/python3-config'  # Debian's CPython, not the first on PATH


def _config(*args):
    return subprocess.check_output([PYTHON_CONFIG] + list(args)).decode().split()


def _sources(folder):
    # the builder runs from the plugin directory ('.'), paths are relative to it
    return sorted(os.path.join(folder, f[:-2]) for f in os.listdir(folder) if f.endswith('.c'))


CFLAGS = _config('--includes') + ['-std=c11', '-Wall', '-Wextra', '-Werror',
                                  '-fvisibility=hidden']
LDFLAGS = []
LIBS = _config('--ldflags', '--embed') + ['-ljansson']
GCC_LIST = _sources('plugin') + _sources('src')
