"""CSV reading, the article's sliding windows, and output writing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from npinfer.datafiles import drop_column, read_csv, read_input, sliding_windows, write_output
from npinfer.errors import InputError


def article_windows(data, look_back):
    """The article's loop, verbatim in spirit: Xdata.append(data[i:i+look_back, :-1])."""
    return np.array([data[i : i + look_back] for i in range(data.shape[0] - look_back + 1)])


@given(arrays(np.float64, st.tuples(st.integers(1, 30), st.integers(1, 5)), elements=st.floats(-1e6, 1e6)),
       st.integers(1, 30))
def test_sliding_windows_equal_the_article_loop(values, look_back):
    if look_back > values.shape[0]:
        with pytest.raises(InputError, match="fewer than the look-back"):
            sliding_windows(values, look_back)
        return
    windows = sliding_windows(values, look_back)
    assert windows.shape == (values.shape[0] - look_back + 1, look_back, values.shape[1])
    assert np.array_equal(windows, article_windows(values, look_back))


def test_ten_rows_with_look_back_four_give_seven_windows(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("X1,X2,X3,Y\n" + "\n".join(",".join(str(i * 4 + j) for j in range(4)) for i in range(10)) + "\n")
    x = read_input(str(path), look_back=4, target="Y")
    assert x.shape == (7, 4, 3)
    assert np.array_equal(x[0, :, 0], [0, 4, 8, 12]) and np.array_equal(x[6, -1], [36, 37, 38])


def test_csv_without_header_and_target_by_position(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("1,2,3\n4,5,6\n")
    table = read_csv(str(path))
    assert table.columns is None and table.values.tolist() == [[1, 2, 3], [4, 5, 6]]
    assert drop_column(table, "1", "d.csv").values.tolist() == [[1, 3], [4, 6]]
    with pytest.raises(InputError, match="column position"):
        drop_column(table, "Y", "d.csv")


@pytest.mark.parametrize("text,message", [
    ("a,b\n1,2\n3\n", "line 3 has 1 values, expected 2"),
    ("a,b\n1,2\n3,x\n", "line 3, column 'b': 'x' is not a number"),
    ("a,b\n1,2\n3,\n", "line 3, column 'b': '' is not a number"),
    ("a,b\n", "no data rows"),
    ("", "empty"),
])
def test_bad_csv_names_the_line_and_column(tmp_path, text, message):
    path = tmp_path / "d.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_csv(str(path))


def test_unknown_target_lists_the_columns(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("X1,Y\n1,2\n")
    with pytest.raises(InputError, match="no column named 'Z'; columns: X1, Y"):
        read_input(str(path), target="Z")


def test_npy_and_npz_inputs(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((2, 3)))
    assert read_input(str(tmp_path / "a.npy")).shape == (2, 3)
    np.savez(tmp_path / "one.npz", x=np.ones(2))
    assert read_input(str(tmp_path / "one.npz")).shape == (2,)
    np.savez(tmp_path / "two.npz", a=np.ones(2), b=np.zeros(3))
    assert set(read_input(str(tmp_path / "two.npz"))) == {"a", "b"}
    np.save(tmp_path / "objects.npy", np.array([object()], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="cannot read|not numbers"):
        read_input(str(tmp_path / "objects.npy"))
    with pytest.raises(InputError, match="must be .npy, .npz or .csv"):
        read_input(str(tmp_path / "a.txt"))
    with pytest.raises(InputError, match="CSV input only"):
        read_input(str(tmp_path / "a.npy"), look_back=3)


def test_write_outputs(tmp_path, capsys):
    y = np.array([[0.5, 1.25], [2.0, -1.0]], dtype=np.float32)
    write_output(str(tmp_path / "y.npy"), [y], ["dense"])
    assert np.array_equal(np.load(tmp_path / "y.npy"), y)
    write_output(str(tmp_path / "y.csv"), [y, y[:, :1]], ["a", "b"])
    assert (tmp_path / "y.csv").read_text().splitlines() == ["a_0,a_1,b", "0.5,1.25,0.5", "2,-1,2"]
    write_output(str(tmp_path / "y.npz"), [y, y], ["a", "a"])
    with np.load(tmp_path / "y.npz") as npz:
        assert sorted(npz.files) == ["a", "a_1"]
    write_output(None, [y], ["out"])
    assert capsys.readouterr().out.splitlines()[0] == "out_0,out_1"
    with pytest.raises(InputError, match="write them to a .npz"):
        write_output(str(tmp_path / "two.npy"), [y, y], ["a", "b"])
    with pytest.raises(InputError, match="CSV holds one row per sample"):
        write_output(str(tmp_path / "seq.csv"), [np.zeros((2, 3, 4))], ["lstm"])
    assert not (tmp_path / "seq.csv").exists() and not (tmp_path / "two.npy").exists()


def test_float32_csv_values_round_trip_exactly(tmp_path):
    y = np.random.default_rng(0).normal(size=(50, 1)).astype(np.float32)
    write_output(str(tmp_path / "y.csv"), [y], ["y"])
    back = np.loadtxt(tmp_path / "y.csv", delimiter=",", skiprows=1, dtype=np.float32).reshape(-1, 1)
    assert np.array_equal(back, y)
