"""Spanish and English labels of the app: interface text, fields, categories and codes.

Field names, levels and codes come from :mod:`readmission.schema`; this module only
says how to *show* them. A missing translation falls back to English, then to the raw
value, so a new schema column never breaks the page.
"""

from __future__ import annotations

from typing import Literal

from readmission import schema

Lang = Literal["es", "en"]
LANGUAGES: dict[Lang, str] = {"es": "Español", "en": "English"}
DEFAULT_LANG: Lang = "es"

_TEXT: dict[str, tuple[str, str]] = {
    # key: (es, en)
    "title": ("Riesgo de reingreso hospitalario", "Hospital readmission risk"),
    "subtitle": (
        "Pacientes diabéticos · estimación a partir del modelo campeón del registro",
        "Diabetic inpatients · estimated by the registry's champion model",
    ),
    "language": ("Idioma", "Language"),
    "page": ("Sección", "Section"),
    "page_single": ("Paciente", "Patient"),
    "page_batch": ("Lote (CSV)", "Batch (CSV)"),
    "page_model": ("Modelo", "Model"),
    "group_patient": ("Paciente", "Patient"),
    "group_stay": ("Estancia hospitalaria", "Hospital stay"),
    "group_diagnoses": ("Diagnósticos", "Diagnoses"),
    "group_treatment": ("Tratamiento y medicación", "Treatment and medication"),
    "group_admission": ("Ingreso y alta", "Admission and discharge"),
    "other_drugs": ("Otros antidiabéticos", "Other diabetes medications"),
    "not_recorded": ("No registrado", "Not recorded"),
    "submit": ("Calcular riesgo", "Estimate risk"),
    "fix_fields": ("Revise estos campos:", "Please check these fields:"),
    "icd9_help": (
        "Código CIE-9-MC tal como aparece en la historia (p. ej. 428, 250.02, V45). Vacío si no hay.",
        "ICD-9-CM code as charted (e.g. 428, 250.02, V45). Leave empty if none.",
    ),
    "icd9_group": ("Grupo", "Group"),
    "icd9_invalid": ("no es un código CIE-9 válido", "is not a valid ICD-9 code"),
    "result": ("Resultado", "Result"),
    "risk": ("Riesgo de reingreso", "Readmission risk"),
    "band": ("Nivel de riesgo", "Risk band"),
    "threshold": ("Umbral de decisión", "Decision threshold"),
    "prediction": ("Predicción", "Prediction"),
    "pred_1": ("Probable reingreso", "Likely readmission"),
    "pred_0": ("Reingreso poco probable", "Readmission unlikely"),
    "produced_by": ("Modelo", "Model"),
    "stale": (
        "Los datos cambiaron desde el último cálculo: pulse de nuevo «Calcular riesgo».",
        "The inputs changed since the last estimate: press “Estimate risk” again.",
    ),
    "api_down": (
        "El servicio de predicción no está disponible en este momento. Inténtelo de nuevo en unos minutos; "
        "si persiste, avise al equipo de soporte.",
        "The prediction service is not available right now. Please try again in a few minutes; "
        "if it persists, contact support.",
    ),
    "api_slow": (
        "El servicio de predicción tarda demasiado en responder. Inténtelo de nuevo en unos minutos.",
        "The prediction service is taking too long to answer. Please try again in a few minutes.",
    ),
    "api_rejected": ("El servicio rechazó los datos:", "The service rejected the data:"),
    "api_error": (
        "El servicio de predicción devolvió un error inesperado. Inténtelo de nuevo más tarde.",
        "The prediction service returned an unexpected error. Please try again later.",
    ),
    "batch_intro": (
        "Suba un CSV con las columnas originales del conjunto UCI (una fila por ingreso; «?» = sin dato). "
        "Las filas se envían por bloques; las rechazadas se listan con su motivo y el resto se puntúa.",
        "Upload a CSV with the original UCI columns (one row per encounter; “?” = missing). "
        "Rows are sent in chunks; rejected rows are listed with their reason and the rest are scored.",
    ),
    "upload": ("Archivo CSV", "CSV file"),
    "score_batch": ("Puntuar archivo", "Score file"),
    "bad_csv": ("No se pudo leer el archivo:", "The file could not be read:"),
    "missing_columns": ("Faltan columnas:", "Missing columns:"),
    "progress": ("Puntuando {done} de {total} filas…", "Scoring {done} of {total} rows…"),
    "batch_done": (
        "{scored} filas puntuadas, {rejected} rechazadas.",
        "{scored} rows scored, {rejected} rejected.",
    ),
    "rejected_rows": ("Filas rechazadas", "Rejected rows"),
    "row": ("Fila", "Row"),
    "reason": ("Motivo", "Reason"),
    "download": ("Descargar resultados (CSV)", "Download results (CSV)"),
    "batch_interrupted": (
        "El servicio dejó de responder tras {done} de {total} filas; se muestran las ya puntuadas.",
        "The service stopped answering after {done} of {total} rows; the rows already scored are shown.",
    ),
    "model_title": ("Modelo en uso", "Model in use"),
    "model_name": ("Nombre", "Name"),
    "model_version": ("Versión", "Version"),
    "model_alias": ("Alias", "Alias"),
    "loaded_at": ("Cargado", "Loaded"),
    "data_version": ("Versión de datos", "Data version"),
    "metrics": ("Métricas de evaluación", "Evaluation metrics"),
    "group_metrics": ("Resultados por grupo", "Results per group"),
    "input_schema": ("Esquema de entrada", "Input schema"),
    "no_metrics": ("El servicio no informa métricas.", "The service reports no metrics."),
    "models_intro": (
        "Un modelo por desenlace, cada uno con su versión campeona en el registro.",
        "One model per outcome, each with its own champion version in the registry.",
    ),
    "intervals_title": (
        "Métricas en {split} con intervalo de confianza del 95 % (bootstrap por paciente)",
        "Metrics on {split} with 95 % confidence intervals (patient-clustered bootstrap)",
    ),
    "no_intervals": (
        "Este modelo se entrenó antes de registrar intervalos de confianza.",
        "This model was trained before confidence intervals were logged.",
    ),
    "split_test": ("prueba", "test"),
    "split_val": ("validación", "validation"),
    "metric": ("Métrica", "Metric"),
    "estimate": ("Estimación", "Estimate"),
    "ci_low": ("Límite inferior 95 %", "95 % lower bound"),
    "ci_high": ("Límite superior 95 %", "95 % upper bound"),
    "metric_roc_auc": ("ROC-AUC (discriminación)", "ROC-AUC (discrimination)"),
    "metric_pr_auc": ("PR-AUC (precisión-sensibilidad)", "PR-AUC (precision-recall)"),
    "metric_brier": ("Puntuación de Brier (menor es mejor)", "Brier score (lower is better)"),
    "calibration": ("Calibración", "Calibration"),
    "calibration_none": ("ninguna (ya calibrado)", "none (already calibrated)"),
    "calibration_sigmoid": ("sigmoide (Platt)", "sigmoid (Platt)"),
    "calibration_isotonic": ("isotónica", "isotonic"),
    "ece": ("ECE en {split}", "ECE on {split}"),
    "ece_help": (
        "Error de calibración esperado: diferencia media entre el riesgo predicho y la tasa observada.",
        "Expected calibration error: mean gap between predicted risk and observed rate.",
    ),
    "band_rates_title": (
        "Niveles de riesgo en {split}: pacientes y tasa de reingreso observada",
        "Risk bands on {split}: patients and observed readmission rate",
    ),
    "share_patients": ("Pacientes", "Patients"),
    "observed_rate": ("Tasa observada", "Observed rate"),
    "vs_base": ("Veces la tasa base", "Times the base rate"),
    "other_metrics": ("Todas las métricas registradas", "Every logged metric"),
    "api_at": ("Servicio de predicción", "Prediction service"),
    "outcome_any": (
        "Reingreso en cualquier momento tras el alta (antes o después de 30 días)",
        "Readmission at any time after discharge (within or after 30 days)",
    ),
    "outcome_within_30_days": (
        "Reingreso en los 30 días siguientes al alta",
        "Readmission within 30 days of discharge",
    ),
    "relative": (
        "{ratio:.1f} veces el riesgo del paciente medio (tasa base {base:.1%})",
        "{ratio:.1f}x the average patient's risk (base rate {base:.1%})",
    ),
    "factors": ("Factores principales", "Top factors"),
    "factors_caption": (
        "Contribución exacta de cada dato al modelo (log-odds): a la derecha aumenta el riesgo, "
        "a la izquierda lo reduce.",
        "Each field's exact contribution to the model (log-odds): to the right it raises the risk, "
        "to the left it lowers it.",
    ),
    "contribution": ("Contribución", "Contribution"),
    "factor": ("Factor", "Factor"),
    "not_covered": (
        "Este ingreso terminó en fallecimiento o cuidados paliativos: no puede haber reingreso y el modelo "
        "no da un riesgo.",
        "This encounter ended in death or hospice: it cannot be readmitted and the model gives no risk.",
    ),
    "risk_30d": ("Riesgo a 30 días", "30-day risk"),
    "band_30d": ("Nivel a 30 días", "30-day band"),
    "base_rate": ("Tasa base", "Base rate"),
    "disclaimer": (
        "Herramienta de apoyo: no sustituye el juicio clínico.",
        "A decision aid: it does not replace clinical judgement.",
    ),
}

_FIELDS: dict[str, tuple[str, str]] = {
    "race": ("Raza / etnia", "Race"),
    "gender": ("Sexo", "Gender"),
    "age": ("Edad (años)", "Age (years)"),
    "weight": ("Peso (libras)", "Weight (pounds)"),
    "admission_type_id": ("Tipo de ingreso", "Admission type"),
    "discharge_disposition_id": ("Destino al alta", "Discharge disposition"),
    "admission_source_id": ("Origen del ingreso", "Admission source"),
    "time_in_hospital": ("Días de hospitalización", "Days in hospital"),
    "payer_code": ("Pagador", "Payer"),
    "medical_specialty": ("Especialidad del médico que ingresa", "Admitting physician's specialty"),
    "num_lab_procedures": ("Pruebas de laboratorio", "Lab tests"),
    "num_procedures": ("Procedimientos (no laboratorio)", "Procedures (non-lab)"),
    "num_medications": ("Medicamentos distintos administrados", "Distinct medications given"),
    "number_outpatient": ("Consultas ambulatorias (último año)", "Outpatient visits (past year)"),
    "number_emergency": ("Visitas a urgencias (último año)", "Emergency visits (past year)"),
    "number_inpatient": ("Hospitalizaciones (último año)", "Inpatient stays (past year)"),
    "diag_1": ("Diagnóstico principal (CIE-9)", "Primary diagnosis (ICD-9)"),
    "diag_2": ("Diagnóstico secundario (CIE-9)", "Secondary diagnosis (ICD-9)"),
    "diag_3": ("Otro diagnóstico secundario (CIE-9)", "Additional diagnosis (ICD-9)"),
    "number_diagnoses": ("Número de diagnósticos registrados", "Number of diagnoses recorded"),
    "max_glu_serum": ("Glucosa sérica (mg/dL)", "Glucose serum test (mg/dL)"),
    "A1Cresult": ("HbA1c (%)", "HbA1c (%)"),
    "change": ("Cambio en la medicación antidiabética", "Change in diabetes medication"),
    "prior_visits": ("Visitas de cualquier tipo (último año)", "Visits of any kind (past year)"),
    "diabetes_medications": ("Antidiabéticos en uso y cambios de dosis", "Diabetes medications and dose changes"),
    "diabetesMed": ("Medicación antidiabética prescrita", "Diabetes medication prescribed"),
}

_LEVELS: dict[str, dict[str, tuple[str, str]]] = {
    "race": {
        "Caucasian": ("Caucásica", "Caucasian"),
        "AfricanAmerican": ("Afroamericana", "African American"),
        "Hispanic": ("Hispana", "Hispanic"),
        "Asian": ("Asiática", "Asian"),
        "Other": ("Otra", "Other"),
    },
    "gender": {
        "Female": ("Mujer", "Female"),
        "Male": ("Hombre", "Male"),
        schema.UNKNOWN_GENDER: ("Desconocido", "Unknown"),
    },
    "max_glu_serum": {
        "None": ("No medida", "Not measured"),
        "Norm": ("Normal", "Normal"),
        ">200": ("> 200", "> 200"),
        ">300": ("> 300", "> 300"),
    },
    "A1Cresult": {
        "None": ("No medida", "Not measured"),
        "Norm": ("Normal", "Normal"),
        ">7": ("> 7 %", "> 7 %"),
        ">8": ("> 8 %", "> 8 %"),
    },
    "change": {"No": ("Sin cambios", "No change"), "Ch": ("Con cambios", "Changed")},
    "diabetesMed": {"No": ("No", "No"), "Yes": ("Sí", "Yes")},
    "payer_code": {
        "MC": ("MC · Medicare", "MC · Medicare"),
        "MD": ("MD · Medicaid", "MD · Medicaid"),
        "HM": ("HM · HMO", "HM · HMO"),
        "BC": ("BC · Blue Cross / Blue Shield", "BC · Blue Cross / Blue Shield"),
        "SP": ("SP · Pago propio", "SP · Self-pay"),
        "WC": ("WC · Accidente laboral", "WC · Workers' compensation"),
        "OT": ("OT · Otro", "OT · Other"),
    },
}
_MEDICATION_LEVELS: dict[str, tuple[str, str]] = {
    "No": ("No prescrito", "Not prescribed"),
    "Steady": ("Sin cambio de dosis", "Steady dose"),
    "Up": ("Dosis aumentada", "Dose increased"),
    "Down": ("Dosis reducida", "Dose decreased"),
}

_CODES_ES: dict[str, dict[int, str]] = {
    "admission_type_id": {
        1: "Urgencia", 2: "Urgente", 3: "Programado", 4: "Recién nacido",
        5: "No disponible", 6: "Sin dato", 7: "Centro de trauma", 8: "Sin correspondencia",
    },
    "discharge_disposition_id": {
        1: "Alta a domicilio",
        2: "Traslado a otro hospital de agudos",
        3: "Traslado a centro de enfermería especializada (SNF)",
        4: "Traslado a centro de cuidados intermedios (ICF)",
        5: "Traslado a otra institución de hospitalización",
        6: "Domicilio con atención sanitaria domiciliaria",
        7: "Alta voluntaria contra criterio médico",
        8: "Domicilio con proveedor de terapia IV",
        9: "Ingresado en este hospital",
        10: "Neonato trasladado a otro hospital",
        11: "Fallecido",
        12: "Sigue ingresado o volverá para atención ambulatoria",
        13: "Cuidados paliativos en domicilio",
        14: "Cuidados paliativos en centro sanitario",
        15: "Traslado a cama swing de Medicare en esta institución",
        16: "Derivado a otra institución para atención ambulatoria",
        17: "Derivado a esta institución para atención ambulatoria",
        18: "Sin dato",
        19: "Fallecido en domicilio (paliativos, Medicaid)",
        20: "Fallecido en centro sanitario (paliativos, Medicaid)",
        21: "Fallecido, lugar desconocido (paliativos, Medicaid)",
        22: "Traslado a centro de rehabilitación",
        23: "Traslado a hospital de larga estancia",
        24: "Traslado a residencia certificada por Medicaid",
        25: "Sin correspondencia",
        26: "Desconocido / no válido",
        27: "Traslado a un centro sanitario federal",
        28: "Derivado a hospital o unidad psiquiátrica",
        29: "Traslado a hospital de acceso crítico (CAH)",
        30: "Traslado a otro tipo de institución sanitaria",
    },
    "admission_source_id": {
        1: "Derivación médica", 2: "Derivación de consulta", 3: "Derivación de HMO",
        4: "Traslado desde un hospital", 5: "Traslado desde centro de enfermería (SNF)",
        6: "Traslado desde otro centro sanitario", 7: "Servicio de urgencias",
        8: "Tribunal / fuerzas del orden", 9: "No disponible",
        10: "Traslado desde hospital de acceso crítico", 11: "Parto normal", 12: "Parto prematuro",
        13: "Recién nacido enfermo", 14: "Nacimiento extramuros", 15: "No disponible", 17: "Sin dato",
        18: "Traslado desde otra agencia de atención domiciliaria",
        19: "Reingreso en la misma agencia de atención domiciliaria", 20: "Sin correspondencia",
        21: "Desconocido / no válido", 22: "Traslado interno con facturación separada",
        23: "Nacido en este hospital", 24: "Nacido fuera de este hospital",
        25: "Traslado desde centro de cirugía ambulatoria", 26: "Traslado desde cuidados paliativos",
    },
}  # fmt: skip

_ICD9_GROUPS_ES: dict[str, str] = {
    "Circulatory": "Circulatorio",
    "Respiratory": "Respiratorio",
    "Digestive": "Digestivo",
    "Diabetes": "Diabetes",
    "Injury": "Lesiones y traumatismos",
    "Musculoskeletal": "Musculoesquelético",
    "Genitourinary": "Genitourinario",
    "Neoplasms": "Neoplasias",
    "Other": "Otros",
    "Missing": "Sin diagnóstico",
}

_BANDS_ES: dict[str, str] = {
    "low": "Bajo",
    "medium": "Medio",
    "high": "Alto",
}


def _pick(pair: tuple[str, str], lang: Lang) -> str:
    return pair[0] if lang == "es" else pair[1]


def t(key: str, lang: Lang, **values: object) -> str:
    """Interface text ``key`` in ``lang``, formatted with ``values``."""
    pair = _TEXT.get(key)
    text = key if pair is None else _pick(pair, lang)
    return text.format(**values) if values else text


def field_label(name: str, lang: Lang) -> str:
    """How a column is called on the form."""
    pair = _FIELDS.get(name)
    if pair is not None:
        return _pick(pair, lang)
    return name  # medications keep their generic name


def level_label(column: str, value: object, lang: Lang) -> str:
    """How one value of a category or code column is shown (``None``: not recorded)."""
    if value is None or value == "":
        return t("not_recorded", lang)
    if column in schema.MEDICATIONS:
        return _pick(_MEDICATION_LEVELS.get(str(value), (str(value), str(value))), lang)
    if isinstance(value, int):
        return code_label(column, value, lang)
    labels = _LEVELS.get(column, {})
    pair = labels.get(str(value))
    return _pick(pair, lang) if pair else str(value)


def code_label(column: str, code: int, lang: Lang) -> str:
    """``"7 · Emergency Room"``: the code with its IDS_mapping.csv description."""
    english = schema.code_descriptions().get(column, {}).get(code, "")
    description = _CODES_ES.get(column, {}).get(code, english) if lang == "es" else english
    return f"{code} · {description}" if description else str(code)


def icd9_group_label(group: str, lang: Lang) -> str:
    return _ICD9_GROUPS_ES.get(group, group) if lang == "es" else group


def band_label(band: str, lang: Lang) -> str:
    """The API's risk band (e.g. ``high``) in ``lang``."""
    if lang == "es":
        return _BANDS_ES.get(band.lower(), band)
    return band.capitalize()


def outcome_label(target: str, lang: Lang) -> str:
    """An outcome (``any``, ``within_30_days``) in words."""
    return t(f"outcome_{target}", lang)
