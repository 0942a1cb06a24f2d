# Build description of leakwatch, for uWSGI's plugin builder and for `make`.
#
#   PYTHON=python3.13 uwsgi --build-plugin .   uWSGI's builder runs this file
#                                             under $PYTHON (as for uWSGI's
#                                             own python plugin)
#   python3.13 uwsgiplugin.py --cflags         what `make` compiles with
#   python3.13 uwsgiplugin.py --refusal        why it cannot be built for it
#   python3 uwsgiplugin.py --python-of UWSGI   the Python that uWSGI binary
#                                             runs (make's default PYTHON)
#
# The plugin is built for the Python that runs this file: its headers, and
# no libpython on the link line. Its Python symbols are the running
# interpreter's, which the python plugin (or a monolithic uWSGI) has loaded
# before it; a plugin built for another minor version says so at start and
# stays off (plugin/pyinternals.h).
import os
import re
import shutil
import subprocess
import sys
import sysconfig

NAME = 'leakwatch'


def refusal():
    """Why the plugin cannot be built for the Python running this file, or None."""
    if sysconfig.get_config_var('Py_GIL_DISABLED'):
        return ('leakwatch: %s is a free-threaded CPython (Py_GIL_DISABLED), which leakwatch '
                'does not support; build it for a default (GIL) CPython' % sys.executable)
    if not (3, 11) <= sys.version_info[:2] <= (3, 15):
        return 'leakwatch: %s is CPython %d.%d; CPython 3.11 to 3.15 are supported' % (
            sys.executable, sys.version_info[0], sys.version_info[1])
    return None

def python_cflags():
    paths = sysconfig.get_paths()
    dirs = []
    for key in ('include', 'platinclude'):
        if paths.get(key) and paths[key] not in dirs:
            dirs.append(paths[key])
    return ['-I' + d for d in dirs]


def _here():
    # uWSGI's builder execs this file without __file__, from any directory,
    # as `uwsgiconfig.py --extra-plugin DIR`
    if '__file__' in globals():
        return os.path.dirname(os.path.abspath(__file__))
    if '--extra-plugin' in sys.argv[:-1]:
        return sys.argv[sys.argv.index('--extra-plugin') + 1]
    return '.'


def _sources(folder):
    # names relative to the plugin directory, without '.c', as the builder wants them
    return sorted(os.path.join(folder, f[:-2])
                  for f in os.listdir(os.path.join(_here(), folder)) if f.endswith('.c'))


if __name__ != '__main__':  # uWSGI's builder: stop it, in one line
    _REFUSAL = refusal()
    if _REFUSAL:
        sys.exit(_REFUSAL)

CFLAGS = python_cflags() + ['-std=c11', '-Wall', '-Wextra', '-Werror', '-fvisibility=hidden']
LDFLAGS = []
LIBS = ['-ljansson', '-lm']
GCC_LIST = _sources('plugin') + _sources('src')


def _libpython(path):
    """The libpython3.X a binary or shared object loads: ('3.X', its file), or None."""
    try:
        out = subprocess.run(['ldd', path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True).stdout
    except OSError:
        return None
    m = re.search(r'libpython(3\.\d+)\S*\s*=>\s*(\S+)', out)
    return (m.group(1), m.group(2)) if m else None


def python_of(uwsgi):
    """The interpreter a uWSGI binary embeds: its own libpython (a monolithic
    build, as pip makes), else its python3 plugin's. Looked for beside that
    libpython (its installation's bin/), then beside the binary (a
    virtualenv), then on PATH."""
    binary = shutil.which(uwsgi) or uwsgi
    lib = _libpython(binary)
    if not lib:
        cflags = subprocess.run([binary, '--cflags'], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True).stdout
        m = re.search(r'-DUWSGI_PLUGIN_DIR=\\?"([^"\\]+)', cflags)
        plugin = os.path.join(m.group(1) if m else '/usr/lib/uwsgi/plugins', 'python3_plugin.so')
        lib = _libpython(plugin) if os.path.exists(plugin) else None
    names = (['python' + lib[0]] if lib else []) + ['python3']
    dirs = [os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(lib[1]))), 'bin')
            ] if lib else []
    dirs += [os.path.dirname(binary), os.path.dirname(os.path.realpath(binary))]
    for name in names:
        for candidate in [os.path.join(d, name) for d in dirs] + [shutil.which(name)]:
            if candidate and os.access(candidate, os.X_OK):
                return candidate
    return '/usr/bin/python3'


if __name__ == '__main__':
    if sys.argv[1:] == ['--cflags']:
        print(' '.join(python_cflags()))
    elif sys.argv[1:] == ['--refusal']:
        print(refusal() or '')
    elif len(sys.argv) == 3 and sys.argv[1] == '--python-of':
        print(python_of(sys.argv[2]))
    else:
        sys.exit('usage: uwsgiplugin.py --cflags | --refusal | --python-of UWSGI')
