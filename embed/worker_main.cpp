// hindsight-worker: embeds CPython, imports a WSGI app and runs captured requests
// against it, one at a time, over the protocol in docs/worker-protocol.md.
//
// C++ owns the process (arguments, the interpreter's configuration, the inherited
// socket, signals, crash output) and the frame loop; everything that touches the app
// is Python in python/hindsight_worker/, compiled into this binary.

#include <fcntl.h>
#include <pybind11/embed.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>

#include "embed/interpreter_setup.hpp"
#include "embed/protocol.hpp"

namespace py = pybind11;
namespace protocol = hindsight::protocol;

namespace hindsight::worker {
struct embedded_file {
  const char* module;
  const unsigned char* source;
  std::size_t source_size;
  const unsigned char* code;  // marshalled code object, in the format of embedded_magic
  std::size_t code_size;
};
extern const embedded_file embedded_files[];
extern const unsigned char embedded_magic[];
extern const std::size_t embedded_magic_size;
}  // namespace hindsight::worker

namespace {

constexpr const char* embedded_version = HINDSIGHT_PYTHON_VERSION;

// The protocol socket, once serve() runs: events go out on it between frames.
int event_fd = -1;

// The worker's Python package, served from the bytes compiled into this binary.
PYBIND11_EMBEDDED_MODULE(_hindsight_embedded, m) {
  auto bytes = [](const unsigned char* data, std::size_t size) {
    return py::bytes(reinterpret_cast<const char*>(data), size);
  };
  // name → (source, marshalled code)
  m.def("modules", [bytes] {
    py::dict out;
    for (const auto* f = hindsight::worker::embedded_files; f->module; ++f)
      out[py::str(f->module)] = py::make_tuple(bytes(f->source, f->source_size), bytes(f->code, f->code_size));
    return out;
  });
  m.def("magic", [bytes] { return bytes(hindsight::worker::embedded_magic, hindsight::worker::embedded_magic_size); });
  // A message to the parent in the middle of a request (e.g. "a pdb prompt opened").
  m.def("send_event", [](const std::string& header) {
    if (event_fd < 0) return;
    py::gil_scoped_release unlocked;
    try {
      protocol::write_frame(event_fd, header, "");
    } catch (const protocol::error&) {
      // The parent is gone; the request's own answer will fail the same way.
    }
  });
}

// A meta-path finder for hindsight_worker.*: the sources never touch the disk. Their
// file names start with "<hindsight>" so the traceback model can leave them out. The
// code compiled at build time runs when its magic number is this interpreter's; the
// source is compiled otherwise (a libpython other than the one built against).
constexpr const char* install_importer = R"PY(
import importlib.util, marshal, sys, _hindsight_embedded

# Finder and loader by protocol, not by importlib.abc's classes: importing that module
# costs more than the rest of the worker's own start.
class _EmbeddedFinder:
    modules = _hindsight_embedded.modules()
    precompiled = _hindsight_embedded.magic() == importlib.util.MAGIC_NUMBER

    def find_spec(self, name, path=None, target=None):
        if name not in self.modules:
            return None
        is_pkg = name == "hindsight_worker"
        spec = importlib.util.spec_from_loader(name, self, is_package=is_pkg)
        spec.origin = "<hindsight>/" + name.replace(".", "/") + ("/__init__.py" if is_pkg else ".py")
        return spec

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        name = module.__spec__.name
        module.__file__ = module.__spec__.origin
        source, code = self.modules[name]
        if self.precompiled:
            code = marshal.loads(code)
        else:
            code = compile(source, module.__file__, "exec", dont_inherit=True)
        exec(code, module.__dict__)

sys.meta_path.insert(0, _EmbeddedFinder())
)PY";

struct options {
  int fd = -1;
  std::optional<std::string> python;
};

[[noreturn]] void usage_error(const std::string& what) {
  std::cerr << "hindsight-worker: " << what << "\n"
            << "usage: hindsight-worker --fd N [--python PATH]\n"
            << "  started by `hindsight replay` (or the proxy) with one end of a socketpair as descriptor N;\n"
            << "  see docs/worker-protocol.md\n";
  std::exit(2);
}

options parse_arguments(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const std::string& name) -> std::string {
      if (auto eq = a.find('='); eq != std::string::npos) return a.substr(eq + 1);
      if (i + 1 >= argc) usage_error(name + " needs a value");
      return argv[++i];
    };
    if (a == "--fd" || a.rfind("--fd=", 0) == 0) {
      std::string v = value("--fd");
      char* end = nullptr;
      long fd = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end || fd < 0 || fd > 1 << 20) usage_error("--fd wants a descriptor number, got '" + v + "'");
      o.fd = static_cast<int>(fd);
    } else if (a == "--python" || a.rfind("--python=", 0) == 0) {
      o.python = value("--python");
    } else if (a == "-h" || a == "--help") {
      usage_error("help");
    } else {
      usage_error("unknown argument '" + a + "'");
    }
  }
  if (o.fd < 0) usage_error("--fd is required");
  if (::fcntl(o.fd, F_GETFD) < 0)
    usage_error("descriptor " + std::to_string(o.fd) + " given with --fd is not open in the worker");
  return o;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

// Best effort: the parent may already be gone.
void send_error(int fd, const char* kind, const std::string& message) {
  try {
    protocol::write_frame(
        fd, std::string("{\"type\":\"error\",\"kind\":\"") + kind + "\",\"message\":" + json_string(message) +
                ",\"exception\":null}",
        "");
  } catch (const protocol::error&) {
  }
}

void configure(PyConfig& config, const std::optional<hindsight::worker::target_interpreter>& target) {
  PyConfig_InitPythonConfig(&config);
  config.parse_argv = 0;
  config.install_signal_handlers = 1;
  // A segfault in the app or a C extension prints every thread's Python stack on stderr
  // before the process dies; the parent keeps that tail.
  config.faulthandler = 1;
  // sys.executable: the app's interpreter, else the one this worker was built against
  // (an embedded interpreter otherwise reports "", and apps run sys.executable).
  std::string executable = target ? target->executable : std::string(HINDSIGHT_PYTHON_EXECUTABLE);
  {
    // Python finds sys.prefix, pyvenv.cfg and site-packages from the executable's path,
    // exactly as it does when that interpreter is started.
    auto check = [&](PyStatus s) {
      if (PyStatus_Exception(s)) throw std::runtime_error(s.err_msg ? s.err_msg : "PyConfig failed");
    };
    check(PyConfig_SetBytesString(&config, &config.program_name, executable.c_str()));
    check(PyConfig_SetBytesString(&config, &config.executable, executable.c_str()));
  }
}

int serve(int fd) {
  event_fd = fd;
  py::module_ dispatch = py::module_::import("hindsight_worker.dispatch");
  py::object handle = dispatch.attr("handle");
  {
    py::tuple hello = dispatch.attr("hello")();
    protocol::write_frame(fd, hello[0].cast<std::string>(), "");
  }
  for (;;) {
    std::optional<protocol::frame> f;
    try {
      py::gil_scoped_release unlocked;  // the app's own threads keep running between requests
      f = protocol::read_frame(fd, -1);
    } catch (const protocol::error& e) {
      send_error(fd, "protocol", e.what());
      std::cerr << "hindsight-worker: " << e.what() << "\n";
      return 1;
    }
    if (!f) return 0;  // the parent closed the socket: done
    py::tuple reply;
    reply = handle(py::bytes(f->header), py::bytes(f->body));
    std::string header = reply[0].cast<std::string>();
    std::string body = reply[1].cast<std::string>();
    bool exit_after = reply[2].cast<bool>();
    std::fflush(stdout);
    {
      py::gil_scoped_release unlocked;
      protocol::write_frame(fd, header, body);
    }
    if (exit_after) return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  options opts = parse_arguments(argc, argv);
  // The app's subprocesses must not inherit the protocol socket, and a closed parent is
  // an error on write, not a SIGPIPE.
  ::fcntl(opts.fd, F_SETFD, ::fcntl(opts.fd, F_GETFD) | FD_CLOEXEC);
  ::signal(SIGPIPE, SIG_IGN);

  auto target = hindsight::worker::find_target_interpreter(opts.python, {HINDSIGHT_PYTHON_EXECUTABLE, embedded_version});
  if (target) {
    if (::access(target->executable.c_str(), X_OK) != 0) {
      std::string msg = "the app's interpreter " + target->executable + " (from " + target->source +
                        ") is not an executable file: pass --python with the path of the app's python, "
                        "usually its virtualenv's bin/python";
      std::cerr << "hindsight-worker: " << msg << "\n";
      send_error(opts.fd, "internal", msg);
      return 3;
    }
    if (target->version != embedded_version) {
      std::string msg = target->version.empty()
                            ? "cannot tell which Python version " + target->executable + " is"
                            : hindsight::worker::version_mismatch_message(*target, embedded_version);
      std::cerr << "hindsight-worker: " << msg << "\n";
      send_error(opts.fd, "internal", msg);
      return 3;
    }
  }

  PyConfig config;
  try {
    configure(config, target);
  } catch (const std::exception& e) {
    PyConfig_Clear(&config);
    std::cerr << "hindsight-worker: cannot configure Python: " << e.what() << "\n";
    send_error(opts.fd, "internal", std::string("cannot configure Python: ") + e.what());
    return 3;
  }
  const char* worker_argv[] = {"hindsight-worker"};
  int rc = 0;
  try {
    py::scoped_interpreter python(&config, 1, worker_argv, /*add_program_dir_to_path=*/false);
    try {
      py::exec(install_importer);
      rc = serve(opts.fd);
    } catch (const py::error_already_set& e) {
      // A bug in the worker itself, not in the app (the app's exceptions are results).
      std::cerr << "hindsight-worker: internal error: " << e.what() << "\n";
      send_error(opts.fd, "internal", e.what());
      rc = 4;
    } catch (const std::exception& e) {
      std::cerr << "hindsight-worker: internal error: " << e.what() << "\n";
      send_error(opts.fd, "internal", e.what());
      rc = 4;
    }
    std::fflush(stdout);
    std::fflush(stderr);
  } catch (const std::exception& e) {
    std::cerr << "hindsight-worker: cannot start Python " << embedded_version << ": " << e.what() << "\n";
    send_error(opts.fd, "internal", std::string("cannot start Python: ") + e.what());
    return 3;
  }
  return rc;
}
