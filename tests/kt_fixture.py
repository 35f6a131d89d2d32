"""Tiny knowledge-tracing exports in the real schemas, written where a test asks.

Every value is hand-written, so a test can state the answer (counts, visibility) exactly.
"""
from __future__ import annotations

import gzip
from pathlib import Path

EDNET_QUESTIONS = """question_id,bundle_id,explanation_id,correct_answer,part,tags,deployed_at
q1,b1,e1,b,1,1;2,1558093217098
q2,b2,e2,a,2,3,1558093219720
q3,b3,e3,c,5,3,1558093219720
q4,b3,e3,d,5,3,1558093219720
q5,b5,e5,a,5,7,1558093219720
"""
# u1: q1 right, q2 wrong, bundle b3 (q3 right, q4 wrong: same solving_id 3), q5 right, q2 right
EDNET_U1 = """timestamp,solving_id,question_id,user_answer,elapsed_time
1000,1,q1,b,20000
61000,2,q2,c,30000
121000,3,q3,c,40000
121010,3,q4,a,40000
181000,4,q5,a,15000
241000,5,q2,a,12000
"""
EDNET_U2 = """timestamp,solving_id,question_id,user_answer,elapsed_time
5000,1,q2,a,10000
9000,2,q1,,11000
15000,3,q5,a,9000
"""
# the single concatenated file without a user column (starts with a UTF-8 BOM): two users
EDNET_CONCAT = "\ufefftimestamp,solving_id,question_id,user_answer,elapsed_time\r\n" + "\r\n".join([
    "1000,1,q1,b,20000", "2000,2,q2,a,21000", "3000,3,q5,b,22000",
    "500,1,q2,b,10000", "800,2,q1,b,11000",
]) + "\r\n"

LPP_HEADER = "user_id\titem_id\ttimestamp\tcorrect\tskill_id\n"
# user 0: skill 5 right, right, wrong; item 11 twice. user 1: two responses. user 2: one response.
LPP_TRAIN = LPP_HEADER + "".join(f"{r}\n" for r in [
    "0\t10\t0\t1\t5", "0\t11\t0\t1\t5", "0\t12\t0\t0\t6", "0\t11\t0\t0\t5",
    "1\t10\t0\t0\t5", "1\t12\t0\t1\t6",
    "2\t10\t0\t1\t5",
])
LPP_TEST = LPP_HEADER + "".join(f"{r}\n" for r in [
    "3\t10\t0\t1\t5", "3\t12\t0\t0\t6", "3\t11\t0\t1\t5",
])

SB_HEADER = ("order_id,assignment_id,user_id,assistment_id,problem_id,original,correct,attempt_count,"
             "ms_first_response,tutor_mode,answer_type,sequence_id,student_class_id,position,type,base_sequence_id,"
             "skill_id,skill_name,teacher_id,school_id,hint_count,hint_total,overlap_time,template_id,answer_id,"
             "answer_text,first_action,bottom_hint,opportunity,opportunity_original\n")


def sb_row(order, user, problem, original, correct, attempts, ms, skill, hints, skill_name="Équations"):
    return (f"{order},1,{user},1,{problem},{original},{correct},{attempts},{ms},tutor,algebra,1,1,1,"
            f"MasterySection,1,{skill},{skill_name},1,1,{hints},3,{ms},1,,,0,,1,1\n")


# user 70: order 1 (problem 100, skills 1 and 2 on two rows, wrong, 3 attempts, 2 hints),
# order 2 (problem 101 skill 1, right), order 3 scaffolding (original 0, right), order 4 (problem 100 again)
SB_ROWS = [
    sb_row(1, 70, 100, 1, 0, 3, 12000, 1, 2), sb_row(1, 70, 100, 1, 0, 3, 12000, 2, 2, "Fractions"),
    sb_row(2, 70, 101, 1, 1, 1, 5000, 1, 0),
    sb_row(3, 70, 102, 0, 1, 1, 4000, 1, 0),
    sb_row(4, 70, 100, 1, 1, 1, 7000, 1, 0), sb_row(4, 70, 100, 1, 1, 1, 7000, 2, 0, "Fractions"),
    sb_row(5, 71, 101, 1, 1, 1, 3000, 1, 0), sb_row(6, 71, 100, 1, 0, 2, 9000, 1, 1),
    sb_row(6, 71, 100, 1, 0, 2, 9000, 2, 1, "Fractions"),
]


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode(encoding)
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def ednet_dir(root: Path, concat: bool = False, questions: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    if questions:
        write(root / "questions.csv", EDNET_QUESTIONS)
    write(root / "u1.csv", EDNET_U1)
    write(root / "per_user" / "_u2.csv.gz", EDNET_U2)
    if concat:
        write(root / "ednet_KT1.csv.gz", EDNET_CONCAT)
    return root


def lpp_dir(root: Path, split: bool = True, train: str = LPP_TRAIN) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    if split:
        write(root / "preprocessed_data_train.csv.gz", train)
        write(root / "preprocessed_data_test.csv", LPP_TEST)
    else:
        write(root / "preprocessed_data.csv.gz", train + LPP_TEST[len(LPP_HEADER):])
    return root


def skill_builder_dir(root: Path, rows=None, encoding: str = "latin-1") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write(root / "skill_builder_data.csv", SB_HEADER + "".join(SB_ROWS if rows is None else rows), encoding)
    return root
