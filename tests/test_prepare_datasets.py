"""avlearn prepare on small trees laid out like each dataset: annotation files in the published
format, media made here (copies of one tiny clip), missing and corrupt files; exact counts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from media import write_clip, write_empty, write_garbage

from avlearn.data import load_manifest
from avlearn.data.prepare import PrepareError, list_preparers, prepare


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return Path(write_clip(tmp_path_factory.mktemp("clip") / "c.mp4", seconds=0.5, fps=8, sample_rate=8000).path)


@pytest.fixture(scope="module")
def wav(tmp_path_factory) -> Path:
    return Path(write_clip(tmp_path_factory.mktemp("wav") / "a.wav", seconds=0.5, sample_rate=8000).path)


def put(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dst)
    return dst


def rows_of(out: Path, split: str) -> list:
    return load_manifest(out / f"{split}.jsonl")


def counts(report, split):
    c = report["splits"][split]
    return c["found"], c["missing"], c["unreadable"]


def test_every_family_is_registered():
    assert set(list_preparers()) == {"folder", "kinetics", "ucf101", "hmdb51", "audioset", "vggsound", "music",
                                     "voxceleb2", "lrs3", "flickr-soundnet", "vggss", "ave", "activitynet", "thumos"}


def test_folder(tmp_path, clip):
    root = tmp_path / "videos"
    put(clip, root / "dog" / "a.mp4")
    put(clip, root / "dog" / "deep" / "b.MKV")  # any extension, any case... copied bytes are mp4
    put(clip, root / "cat" / "c.webm")
    write_garbage(root / "cat" / "bad.mp4")
    (root / "notes.txt").write_text("not media")
    report = prepare("folder", root, tmp_path / "out", labels_from_parent=True)
    assert counts(report, "all") == (3, 0, 1)
    rows = rows_of(tmp_path / "out", "all")
    assert sorted((r.extra["id"], r.label) for r in rows) == [("cat/c", "cat"), ("dog/a", "dog"), ("dog/deep/b", "deep")]
    assert (tmp_path / "out" / "unreadable.txt").read_text().count("bad.mp4") == 1
    assert all(r.extra["media_duration"] == pytest.approx(0.5, abs=0.1) and r.extra["has_video"] for r in rows)


def test_folder_splits_from_top_folders(tmp_path, clip):
    root = tmp_path / "v"
    for rel in ("train/x/1.mp4", "train/y/2.mp4", "validation/x/3.mp4", "test/y/4.mp4"):
        put(clip, root / rel)
    report = prepare("folder", root, tmp_path / "out", labels_from_parent=True)
    assert {k: v["found"] for k, v in report["splits"].items()} == {"train": 2, "val": 1, "test": 1}
    assert [r.label for r in rows_of(tmp_path / "out", "val")] == ["x"]


KINETICS = """label,youtube_id,time_start,time_end,split
abseiling,aaaaaaaaaaa,10,20,train
abseiling,bbbbbbbbbbb,0,10,train
"air drumming",c_c-cccccc1,5,15,train
"air drumming",ddddddddddd,30,40,val
abseiling,eeeeeeeeeee,7,17,val
"""


def test_kinetics(tmp_path, clip):
    root = tmp_path / "k400"
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "kinetics_400.csv").write_text(KINETICS.replace('"', ""))
    put(clip, root / "train" / "abseiling" / "aaaaaaaaaaa_000010_000020.mp4")  # trimmed, the scripts' name
    put(clip, root / "train" / "air drumming" / "c_c-cccccc1_000005_000015.mkv")
    write_empty(put(clip, root / "val" / "ddddddddddd_000030_000040.mp4"))  # a failed download
    put(clip, root / "full" / "eeeeeeeeeee.mp4")  # the whole video
    report = prepare("kinetics", root, tmp_path / "out")
    assert counts(report, "train") == (2, 1, 0)
    assert counts(report, "val") == (1, 0, 1)
    assert (tmp_path / "out" / "missing.txt").read_text() == "train\tbbbbbbbbbbb_000000_000010\n"
    train = {r.extra["id"]: r for r in rows_of(tmp_path / "out", "train")}
    a = train["aaaaaaaaaaa_000010_000020"]
    assert (a.label, a.start, a.end, a.extra["segment"], a.extra["video_id"]) == ("abseiling", None, None, [10.0, 20.0], "aaaaaaaaaaa")
    assert train["c_c-cccccc1_000005_000015"].path.endswith(".mkv")
    (full,) = rows_of(tmp_path / "out", "val")
    assert (full.extra["id"], full.start, full.end) == ("eeeeeeeeeee_000007_000017", None, None)  # 0.5 s: cut already


def test_kinetics_whole_video_keeps_the_segment(tmp_path):
    long_clip = write_clip(tmp_path / "long.mp4", seconds=3.0, fps=4, sample_rate=8000).path
    root = tmp_path / "k"
    root.mkdir()
    (root / "train.csv").write_text("label,youtube_id,time_start,time_end,split\nx,fffffffffff,1,2,train\n")
    put(Path(long_clip), root / "fffffffffff.mp4")
    prepare("kinetics", root, tmp_path / "out")
    (row,) = rows_of(tmp_path / "out", "train")
    assert (row.start, row.end) == (1.0, 2.0)


def test_kinetics_bad_csv(tmp_path):
    (tmp_path / "train.csv").write_text("label,youtube_id,time_start,time_end,split\nx,aaaaaaaaaaa,ten,20,train\n")
    with pytest.raises(PrepareError, match="train.csv:2: time_start"):
        prepare("kinetics", tmp_path, tmp_path / "out")


def test_ucf101(tmp_path, clip):
    lists = tmp_path / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 Archery\n")
    (lists / "trainlist01.txt").write_text(
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\nArchery/v_Archery_g08_c01.avi 2\nArchery/v_Archery_g09_c01.avi 2\n")
    (lists / "testlist01.txt").write_text("ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\r\nArchery/v_Archery_g01_c01.avi\r\n")
    root = tmp_path / "UCF-101"
    put(clip, root / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g08_c01.avi")
    put(clip, root / "Archery" / "v_Archery_g08_c01.avi")
    write_garbage(root / "Archery" / "v_Archery_g09_c01.avi")
    put(clip, root / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g01_c01.avi")
    report = prepare("ucf101", root, tmp_path / "out", annotations=lists, fold=1)
    assert counts(report, "train") == (2, 0, 1) and counts(report, "test") == (1, 1, 0)
    assert [r.label for r in rows_of(tmp_path / "out", "test")] == ["ApplyEyeMakeup"]
    assert sorted(r.extra["class_index"] for r in rows_of(tmp_path / "out", "train")) == [0, 1]
    with pytest.raises(PrepareError, match="trainlist02"):
        prepare("ucf101", root, tmp_path / "out2", annotations=lists, fold=2)


def test_hmdb51(tmp_path, clip):
    splits = tmp_path / "testTrainMulti_7030_splits"
    splits.mkdir()
    (splits / "brush_hair_test_split1.txt").write_text("a_brush_hair_f_0.avi 1 \nb_brush_hair_f_1.avi 2 \nc_brush_hair_f_2.avi 0 \n")
    (splits / "cartwheel_test_split1.txt").write_text("d_cartwheel_f_0.avi 1 \ne_cartwheel_f_1.avi 2 \n")
    (splits / "cartwheel_test_split2.txt").write_text("d_cartwheel_f_0.avi 2 \n")
    root = tmp_path / "hmdb51"
    for rel in ("brush_hair/a_brush_hair_f_0.avi", "brush_hair/b_brush_hair_f_1.avi", "brush_hair/c_brush_hair_f_2.avi",
                "cartwheel/d_cartwheel_f_0.avi"):
        put(clip, root / rel)
    report = prepare("hmdb51", root, tmp_path / "out", annotations=splits)
    assert counts(report, "train") == (2, 0, 0) and counts(report, "test") == (1, 1, 0)
    assert report["splits"]["unused"]["skipped"] == 1 and not (tmp_path / "out" / "unused.jsonl").exists()
    assert sorted(r.label for r in rows_of(tmp_path / "out", "train")) == ["brush_hair", "cartwheel"]


AUDIOSET = """# Segments csv created Sun Mar  5 10:54:31 2017
# num_ytids=3, num_segs=3, num_pos_labels=4
# YTID, start_seconds, end_seconds, positive_labels
--PJHxphWEs, 30.000, 40.000, "/m/09x0r,/t/dd00088"
--ZhevVpy1s, 50.000, 60.000, "/m/012xff"
--aE2O5G5WE, 0.000, 10.000, "/m/03fwl"
"""


def test_audioset(tmp_path, clip, wav):
    root = tmp_path / "audioset"
    (root / "meta").mkdir(parents=True)
    (root / "meta" / "balanced_train_segments.csv").write_text(AUDIOSET)
    (root / "meta" / "eval_segments.csv").write_text(AUDIOSET.splitlines(True)[0] + "# x\n# YTID, start_seconds, end_seconds, positive_labels\n"
                                                     "--aE2O5G5WE, 0.000, 10.000, \"/m/03fwl\"\n")
    (root / "meta" / "class_labels_indices.csv").write_text(
        'index,mid,display_name\n0,/m/09x0r,"Speech"\n1,/m/012xff,"Toothbrush"\n')
    (root / "meta" / "ontology.json").write_text(json.dumps([{"id": "/m/03fwl", "name": "Goat"}, {"id": "/m/09x0r", "name": "X"}]))
    put(clip, root / "balanced" / "Y--PJHxphWEs_30.000_40.000.mp4")
    put(wav, root / "balanced" / "--ZhevVpy1s_50.wav")  # audio only
    report = prepare("audioset", root, tmp_path / "out")
    assert counts(report, "balanced_train") == (2, 1, 0) and counts(report, "eval") == (0, 1, 0)
    rows = {r.extra["id"]: r for r in rows_of(tmp_path / "out", "balanced_train")}
    speech = rows["--PJHxphWEs_30"]
    assert speech.extra["labels"] == ["Speech", "/t/dd00088"] and speech.label is None  # multi-label
    assert speech.extra["mids"] == ["/m/09x0r", "/t/dd00088"] and speech.start is None
    tooth = rows["--ZhevVpy1s_50"]
    assert tooth.label == "Toothbrush" and tooth.extra["has_video"] is False and tooth.extra["has_audio"] is True


def test_vggsound(tmp_path, clip):
    root = tmp_path / "vggsound"
    root.mkdir()
    (root / "vggsound.csv").write_text("---g-f_I2yQ,1,people marching,test\n--0PQM4-hqg,30,waterfall burbling,train\n"
                                       "--56QUhyDQM,185,playing tennis,train\n--5OkAjCI7g,40,people belly laughing,train\n")
    put(clip, root / "video" / "---g-f_I2yQ_000001.mp4")
    put(clip, root / "video" / "--0PQM4-hqg_30.mp4")
    write_garbage(root / "video" / "--56QUhyDQM_000185.mp4")
    report = prepare("vggsound", root, tmp_path / "out")
    assert counts(report, "train") == (1, 1, 1) and counts(report, "test") == (1, 0, 0)
    (row,) = rows_of(tmp_path / "out", "test")
    assert (row.label, row.extra["segment"], row.extra["id"]) == ("people marching", [1.0, 11.0], "---g-f_I2yQ_000001")
    assert (tmp_path / "out" / "missing.txt").read_text() == "train\t--5OkAjCI7g_000040\n"
    trusting = prepare("vggsound", root, tmp_path / "fast", probe=False)  # no probe: nothing unreadable
    assert counts(trusting, "train") == (2, 1, 0) and "media_duration" not in rows_of(tmp_path / "fast", "test")[0].extra


def test_music(tmp_path, clip):
    root = tmp_path / "MUSIC"
    root.mkdir()
    (root / "MUSIC_solo_videos.json").write_text(json.dumps({"videos": {"accordion": ["aaaaaaaaaaa", "bbbbbbbbbbb"],
                                                                        "violin": ["ccccccccccc"]}}))
    (root / "MUSIC_duet_videos.json").write_text(json.dumps({"videos": {"acoustic_guitar violin": ["ddddddddddd"]}}))
    put(clip, root / "solo" / "accordion" / "aaaaaaaaaaa.mp4")
    put(clip, root / "solo" / "violin" / "ccccccccccc.webm")
    put(clip, root / "duet" / "acoustic_guitar violin" / "ddddddddddd.mp4")
    report = prepare("music", root, tmp_path / "out")
    assert counts(report, "solo") == (2, 1, 0) and counts(report, "duet") == (1, 0, 0)
    (duet,) = rows_of(tmp_path / "out", "duet")
    assert duet.extra["labels"] == ["acoustic_guitar", "violin"] and duet.label is None
    assert sorted(r.label for r in rows_of(tmp_path / "out", "solo")) == ["accordion", "violin"]


def test_music_combined_layout(tmp_path, clip):
    (tmp_path / "MUSIC21.json").write_text(json.dumps({"videos": {"solo": {"erhu": ["eeeeeeeeeee"]}, "duet": {}}}))
    put(clip, tmp_path / "eeeeeeeeeee.mp4")
    report = prepare("music", tmp_path, tmp_path / "out")
    assert counts(report, "solo") == (1, 0, 0)


def test_voxceleb2(tmp_path, clip, wav):
    root = tmp_path / "vox2"
    put(clip, root / "dev" / "mp4" / "id00012" / "21Uxsk56VDQ" / "00001.mp4")
    put(wav, root / "dev" / "aac" / "id00012" / "21Uxsk56VDQ" / "00001.m4a")  # same utterance, audio: video kept
    put(clip, root / "dev" / "mp4" / "id00012" / "21Uxsk56VDQ" / "00002.mp4")
    put(clip, root / "dev" / "mp4" / "id00015" / "0fijmz4vTVU" / "00001.mp4")
    write_garbage(put(clip, root / "test" / "mp4" / "id00017" / "01dfn2spqyE" / "00001.mp4"))
    report = prepare("voxceleb2", root, tmp_path / "out")
    assert counts(report, "dev") == (3, 0, 0) and counts(report, "test") == (0, 0, 1)
    rows = rows_of(tmp_path / "out", "dev")
    assert [r.extra["speaker"] for r in rows] == ["id00012", "id00012", "id00015"]
    assert rows[0].extra["id"] == "id00012/21Uxsk56VDQ/00001" and rows[0].path.endswith("00001.mp4")
    assert rows[0].label == "id00012" and rows[0].extra["utterance"] == "00001"


LRS3_TXT = "Text:  SO WE WENT\nConf:  4\n\nWORD START END ASDSCORE\nSO 0.10 0.25 3.1\nWE 0.25 0.40 2.0\nWENT 0.40 0.70 4.2\n"


def test_lrs3(tmp_path, clip):
    root = tmp_path / "lrs3"
    for split, vid, utt in (("trainval", "0af00UcTOSc", "50001"), ("trainval", "0af00UcTOSc", "50002"), ("test", "0Fi83BHQsMA", "00002")):
        (root / split / vid).mkdir(parents=True, exist_ok=True)
        (root / split / vid / f"{utt}.txt").write_text(LRS3_TXT)
    put(clip, root / "trainval" / "0af00UcTOSc" / "50001.mp4")
    put(clip, root / "test" / "0Fi83BHQsMA" / "00002.mp4")
    report = prepare("lrs3", root, tmp_path / "out")
    assert counts(report, "trainval") == (1, 1, 0) and counts(report, "test") == (1, 0, 0)
    (row,) = rows_of(tmp_path / "out", "trainval")
    assert row.extra["text"] == "SO WE WENT" and row.extra["words"][2] == ["WENT", 0.4, 0.7]
    assert row.extra["video_id"] == "0af00UcTOSc" and row.extra["utterance"] == "50001"


FLICKR_XML = """<annotation><file>{id}</file>
<object><bbox><annotator>0</annotator><xmin>64</xmin><ymin>32</ymin><xmax>128</xmax><ymax>256</ymax></bbox></object>
<object><bbox><annotator>1</annotator><xmin>0</xmin><ymin>0</ymin><xmax>256</xmax><ymax>128</ymax></bbox></object>
</annotation>"""


def test_flickr_soundnet(tmp_path, clip, wav):
    root = tmp_path / "flickr"
    (root / "Annotations").mkdir(parents=True)
    for i in ("10000130166", "10002213313", "10005424323"):
        (root / "Annotations" / f"{i}.xml").write_text(FLICKR_XML.format(id=i))
    put(clip, root / "videos" / "10000130166.mp4")
    put(wav, root / "audio" / "10002213313.wav")
    (root / "frames").mkdir()
    (root / "frames" / "10002213313.jpg").write_bytes(b"\xff\xd8\xff")  # the frame release: image + audio
    report = prepare("flickr-soundnet", root, tmp_path / "out")
    assert counts(report, "test") == (2, 1, 0)
    rows = {r.extra["id"]: r for r in rows_of(tmp_path / "out", "test")}
    assert rows["10000130166"].extra["boxes"] == [[0.25, 0.125, 0.5, 1.0], [0.0, 0.0, 1.0, 0.5]]
    assert rows["10002213313"].extra["image"] == "../flickr/frames/10002213313.jpg"


def test_vggss(tmp_path, clip):
    root = tmp_path / "vggss"
    root.mkdir()
    items = [{"file": "---g-f_I2yQ_000001", "bbox": [[0.1, 0.2, 0.5, 0.6]], "class": "people marching"},
             {"file": "--0PQM4-hqg_000030", "bbox": [[0.0, 0.0, 1.0, 1.0], [0.2, 0.2, 0.4, 0.4]], "class": "waterfall"},
             {"file": "--56QUhyDQM_000185", "bbox": [[0.3, 0.3, 0.6, 0.6]], "class": "tennis"}]
    (root / "vggss.json").write_text(json.dumps(items))
    put(clip, root / "clips" / "---g-f_I2yQ_000001.mp4")
    put(clip, root / "clips" / "--0PQM4-hqg_000030.mp4")
    report = prepare("vggss", root, tmp_path / "out")
    assert counts(report, "test") == (2, 1, 0)
    rows = rows_of(tmp_path / "out", "test")
    assert rows[1].extra["boxes"] == [[0.0, 0.0, 1.0, 1.0], [0.2, 0.2, 0.4, 0.4]] and rows[1].label == "waterfall"


AVE_HEAD = "Category&VideoID&Quality&StartTime&EndTime\n"


def test_ave(tmp_path, clip):
    root = tmp_path / "AVE_Dataset"
    (root / "AVE").mkdir(parents=True)
    lines = ["Church bell&RUhOCu3LNXM&good&0&10", "Male speech, man speaking&MFiw9-JbU1w&good&2&7",
             "Dog&zzzzzzzzzzz&bad&1&3"]
    (root / "Annotations.txt").write_text(AVE_HEAD + "\n".join(lines) + "\n")
    (root / "trainSet.txt").write_text(AVE_HEAD + "\n".join(lines[:2]) + "\n")
    (root / "testSet.txt").write_text(AVE_HEAD + lines[2] + "\n")
    put(clip, root / "AVE" / "RUhOCu3LNXM.mp4")
    put(clip, root / "AVE" / "MFiw9-JbU1w.mp4")
    report = prepare("ave", root, tmp_path / "out")
    assert counts(report, "train") == (2, 0, 0) and counts(report, "test") == (0, 1, 0)
    rows = rows_of(tmp_path / "out", "train")
    assert rows[1].label == "Male speech, man speaking" and rows[1].extra["segments"] == [{"start": 2.0, "end": 7.0, "label": "Male speech, man speaking"}]
    assert len(load_manifest(tmp_path / "out" / "train_segments.jsonl")) == 2


def test_activitynet(tmp_path, clip):
    root = tmp_path / "anet"
    root.mkdir()
    db = {"version": "VERSION 1.3", "taxonomy": [], "database": {
        "sJFgo9H6zNo": {"subset": "training", "duration": 139.042, "url": "u", "resolution": "640x360",
                        "annotations": [{"segment": [82.7, 119.0], "label": "Zumba"}, {"segment": [0.8, 55.3], "label": "Zumba"}]},
        "V1zhqaGFY2A": {"subset": "validation", "duration": 136.98, "annotations": [{"segment": [5.0, 10.0], "label": "Ballet"}]},
        "xxxxxxxxxxx": {"subset": "testing", "duration": 20.0, "annotations": []}}}
    (root / "activity_net.v1-3.min.json").write_text(json.dumps(db))
    put(clip, root / "v1-3" / "train_val" / "v_sJFgo9H6zNo.mp4")
    put(clip, root / "v1-3" / "train_val" / "v_V1zhqaGFY2A.mkv")
    report = prepare("activitynet", root, tmp_path / "out")
    assert [counts(report, s) for s in ("train", "val", "test")] == [(1, 0, 0), (1, 0, 0), (0, 1, 0)]
    (row,) = rows_of(tmp_path / "out", "train")
    assert row.label == "Zumba" and [s["start"] for s in row.extra["segments"]] == [0.8, 82.7]
    assert row.extra["annotated_duration"] == 139.042
    segs = load_manifest(tmp_path / "out" / "train_segments.jsonl")
    assert [(s.start, s.end, s.label) for s in segs] == [(0.8, 55.3, "Zumba"), (82.7, 119.0, "Zumba")]


def test_thumos(tmp_path, clip):
    ann = tmp_path / "annotation"
    ann.mkdir()
    (ann / "BaseballPitch_val.txt").write_text("video_validation_0000051 67.5 75.9\nvideo_validation_0000051 85.9 90.6\n")
    (ann / "CliffDiving_val.txt").write_text("video_validation_0000051 1.0 2.0\nvideo_validation_0000052 3.0 4.0\n")
    (ann / "Ambiguous_val.txt").write_text("video_validation_0000051 10.0 11.0\nvideo_validation_0000099 1 2\n")
    (ann / "CliffDiving_test.txt").write_text("video_test_0000004 0.2 1.1\n")
    root = tmp_path / "thumos"
    put(clip, root / "validation" / "video_validation_0000051.mp4")
    write_garbage(root / "validation" / "video_validation_0000052.mp4")
    report = prepare("thumos", root, tmp_path / "out", annotations=ann)
    assert counts(report, "val") == (1, 0, 1) and counts(report, "test") == (0, 1, 0)
    (row,) = rows_of(tmp_path / "out", "val")
    assert row.extra["labels"] == ["BaseballPitch", "CliffDiving"] and row.extra["ambiguous"] == [[10.0, 11.0]]
    assert [s["label"] for s in row.extra["segments"]] == ["CliffDiving", "BaseballPitch", "BaseballPitch"]


def test_no_annotations_is_a_clear_error(tmp_path):
    with pytest.raises(PrepareError, match="no vggsound.csv"):
        prepare("vggsound", tmp_path, tmp_path / "out")
    with pytest.raises(KeyError, match="unknown dataset 'nope'"):
        prepare("nope", tmp_path, tmp_path / "out")
