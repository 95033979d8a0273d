import json

import pytest
import torch
import verify_load


def test_generic_arguments_follow_the_schema():
    schema = torch.ops.aten.add.Tensor._schema
    args = verify_load.make_args(torch, schema, "cpu")
    # `alpha` has a default: the tensors only.
    assert [type(a) for a in args] == [torch.Tensor, torch.Tensor]
    with pytest.raises(TypeError, match="no generic test value"):
        verify_load.make_args(torch, torch.ops.aten.view.default._schema, "cpu")


def test_results_compare_by_value_and_shape():
    a = torch.arange(4.0)
    assert verify_load.same(torch, (a, [a]), (a.clone(), [a.clone()]))
    assert not verify_load.same(torch, a, a[:2])
    assert not verify_load.same(torch, (a, 1), (a, 2))
    nan = torch.tensor([float("nan")])
    assert verify_load.same(torch, nan, nan.clone())


def test_devices():
    assert verify_load.device_for(torch, "cpu") == "cpu"
    if not torch.cuda.is_available():
        assert verify_load.device_for(torch, "cuda") is None


def test_a_failed_load_is_recorded_with_its_error(tmp_path):
    out = tmp_path / "load.json"
    verify_load.main(["load.py", str(out), "cpu", str(tmp_path / "missing"), "_x_cpu_1"])
    res = json.loads(out.read_text())
    assert res["phase"] == "done"
    assert res["loads"][0]["id"] == "_x_cpu_1"
    assert res["loads"][0]["error"]
    assert "new_ops" not in res["loads"][0]


def test_stdin_mode_reads_the_arguments_after_importing(tmp_path, monkeypatch):
    import io

    out = tmp_path / "load.json"
    line = json.dumps(["cpu", str(tmp_path / "missing"), "_x_cpu_2"]) + "\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(line))
    verify_load.main(["load.py", str(out), "--stdin"])
    res = json.loads(out.read_text())
    assert res["phase"] == "done"
    assert res["loads"][0]["id"] == "_x_cpu_2"
    assert res["loads"][0]["error"]


def test_stdin_mode_at_end_of_input_checks_nothing(tmp_path, monkeypatch):
    import io

    out = tmp_path / "load.json"
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    verify_load.main(["load.py", str(out), "--stdin"])
    assert not out.exists()
