// Python bindings of the native ops declared in rasterize.h.
#include <torch/extension.h>

#include "common.h"
#include "rasterize.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "spatialwm native Gaussian rasterizer (CPU, C++17 + OpenMP)";
  m.def("project_fwd", &swm::project_fwd, py::call_guard<py::gil_scoped_release>());
  m.def("project_bwd", &swm::project_bwd, py::call_guard<py::gil_scoped_release>());
  m.def("isect_tiles", &swm::isect_tiles, py::call_guard<py::gil_scoped_release>());
  m.def("rasterize_fwd", &swm::rasterize_fwd, py::call_guard<py::gil_scoped_release>());
  m.def("rasterize_bwd", &swm::rasterize_bwd, py::call_guard<py::gil_scoped_release>());
  m.def("sh_fwd", &swm::sh_fwd, py::call_guard<py::gil_scoped_release>());
  m.def("sh_bwd", &swm::sh_bwd, py::call_guard<py::gil_scoped_release>());
  m.def("set_poison", [](bool on) { swm::poison_flag() = on; },
        "Fill outputs and buffers with NaN / sentinels before kernels write them (tests).");
  m.def("set_stats", [](bool on) {
    swm::stats() = swm::Stats{};
    swm::stats().enabled = on;
  }, "Reset the benchmark counters and turn counting on or off.");
  m.def("get_stats", []() {
    return std::make_tuple(swm::stats().fwd_rows, swm::stats().bwd_rows);
  }, "(forward rows, backward rows) of 16 pixels evaluated since set_stats(True).");
}
