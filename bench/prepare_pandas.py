"""Time the pandas side of the data preparation comparison on KuaiRand-Pure.

Reads the log and the two side tables with pandas.read_csv and keeps the rows whose tab is one
of the five scenes. Then it left-merges the user features on user_id and the basic video
features on video_id. These are the steps and columns of the data loading in the TensorFlow
reference (tfref.py). Encoding is not included, and imports are not timed.

Prints per-step seconds and a last line 'RESULT pandas_prepare_seconds=<seconds> rows=<rows>'.
"""
import argparse
import os
import time

import pandas as pd

TABS = [0, 1, 2, 4, 6]
USER_COLUMNS = (["user_active_degree", "is_lowactive_period", "is_live_streamer", "is_video_author",
                 "follow_user_num_range", "fans_user_num_range", "friend_user_num_range",
                 "register_days_range"] + ["onehot_feat%d" % i for i in range(18)])
VIDEO_COLUMNS = ["author_id", "video_type", "upload_type", "visible_status", "music_id", "music_type", "tag"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="../shared/data/kuairand-pure",
                        help="folder with the three KuaiRand-Pure CSV files")
    args = parser.parse_args()

    start = time.perf_counter()
    log = pd.read_csv(os.path.join(args.data_dir, "log_standard_4_25_to_5_08_pure.csv"))
    user = pd.read_csv(os.path.join(args.data_dir, "user_features_pure.csv"))
    video = pd.read_csv(os.path.join(args.data_dir, "video_features_basic_pure.csv"), dtype={"tag": str})
    read_done = time.perf_counter()

    log = log[log["tab"].isin(TABS)].reset_index(drop=True)
    joined = log.merge(user[["user_id"] + USER_COLUMNS], on="user_id", how="left")
    joined = joined.merge(video[["video_id"] + VIDEO_COLUMNS], on="video_id", how="left")
    end = time.perf_counter()
    assert len(joined) == len(log), "a left merge on a unique key keeps the row count"

    print("read_csv %.4f s, filter and merges %.4f s, %d rows" % (read_done - start, end - read_done, len(joined)))
    print("RESULT pandas_prepare_seconds=%.4f rows=%d" % (end - start, len(joined)))


if __name__ == "__main__":
    main()
