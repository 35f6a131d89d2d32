"""The OULAD file schema: tables, columns, types and category vocabularies.

The real files (Kuzilek et al., Scientific Data 4:170171, 2017, CC BY 4.0) and the project's
synthetic cohort share this schema, so one loader reads both.
"""

# table -> {column: kind}; kind is "str" (a code or category), "int" or "float" (may be missing).
TABLES: dict[str, dict[str, str]] = {
    "courses": {
        "code_module": "str",
        "code_presentation": "str",
        "module_presentation_length": "int",
    },
    "assessments": {
        "code_module": "str",
        "code_presentation": "str",
        "id_assessment": "int",
        "assessment_type": "str",
        "date": "float",  # missing for most final exams: they fall at the end of the module
        "weight": "float",
    },
    "vle": {
        "id_site": "int",
        "code_module": "str",
        "code_presentation": "str",
        "activity_type": "str",
        "week_from": "float",
        "week_to": "float",
    },
    "studentInfo": {
        "code_module": "str",
        "code_presentation": "str",
        "id_student": "int",
        "gender": "str",
        "region": "str",
        "highest_education": "str",
        "imd_band": "str",
        "age_band": "str",
        "num_of_prev_attempts": "int",
        "studied_credits": "int",
        "disability": "str",
        "final_result": "str",
    },
    "studentRegistration": {
        "code_module": "str",
        "code_presentation": "str",
        "id_student": "int",
        "date_registration": "float",
        "date_unregistration": "float",
    },
    "studentAssessment": {
        "id_assessment": "int",
        "id_student": "int",
        "date_submitted": "int",
        "is_banked": "int",
        "score": "float",
    },
    "studentVle": {
        "code_module": "str",
        "code_presentation": "str",
        "id_student": "int",
        "id_site": "int",
        "date": "int",
        "sum_click": "int",
    },
}

# Tables without which no sample can be built. studentVle may be absent or partial.
REQUIRED_TABLES = ("courses", "assessments", "studentInfo", "studentRegistration", "studentAssessment")
OPTIONAL_TABLES = ("vle", "studentVle")

# Category vocabularies as they appear in the real files (note '10-20' has no '%').
VOCAB: dict[str, list[str]] = {
    "gender": ["F", "M"],
    "region": [
        "East Anglian Region", "East Midlands Region", "Ireland", "London Region",
        "North Region", "North Western Region", "Scotland", "South East Region",
        "South Region", "South West Region", "Wales", "West Midlands Region", "Yorkshire Region",
    ],
    "highest_education": [
        "No Formal quals", "Lower Than A Level", "A Level or Equivalent",
        "HE Qualification", "Post Graduate Qualification",
    ],
    "imd_band": [
        "0-10%", "10-20", "20-30%", "30-40%", "40-50%",
        "50-60%", "60-70%", "70-80%", "80-90%", "90-100%",
    ],
    "age_band": ["0-35", "35-55", "55<="],
    "disability": ["N", "Y"],
    "final_result": ["Pass", "Distinction", "Fail", "Withdrawn"],
    "assessment_type": ["TMA", "CMA", "Exam"],
    "activity_type": [
        "dataplus", "dualpane", "externalquiz", "folder", "forumng", "glossary", "homepage",
        "htmlactivity", "oucollaborate", "oucontent", "ouelluminate", "ouwiki", "page",
        "questionnaire", "quiz", "repeatactivity", "resource", "sharedsubpage", "subpage", "url",
    ],
}

# Columns whose vocabulary is checked, per table. imd_band may also be missing.
CATEGORICAL_COLUMNS: dict[str, list[str]] = {
    "studentInfo": ["gender", "region", "highest_education", "imd_band", "age_band", "disability", "final_result"],
    "assessments": ["assessment_type"],
    "vle": ["activity_type"],
}

# Profile fields used as features. date_unregistration is never a feature (it leaks the outcome).
PROFILE_CATEGORICAL = ["gender", "region", "highest_education", "imd_band", "age_band", "disability"]
PROFILE_NUMERIC = ["num_of_prev_attempts", "studied_credits", "date_registration"]
# Category columns whose VOCAB order is a rank (lowest first): a model may read them as ordered.
ORDERED_CATEGORICAL = ["highest_education", "imd_band", "age_band"]
