"""Every fixed word of the bulletin in English, Arabic and Sorani (`Words`, as elsewhere).

`{name}` marks a value filled in by render.py (a number, a month, a date). Figures keep
Western digits in all three languages (README, "The monthly bulletin"). The months are the
names used in Iraq and the Kurdistan Region for the Gregorian calendar: كانون الثاني … in
Arabic, کانوونی دووەم … in Sorani.
"""

from app.languages import Words

TEXT: dict[str, Words] = {
    "title": Words("Monthly bulletin", "النشرة الشهرية", "بڵاوکراوەی مانگانە"),
    "subtitle": Words(
        "Checkpoints and province entrances: how long our trucks wait, and why",
        "السيطرات ومداخل المحافظات: كم تنتظر شاحناتنا، ولماذا",
        "بازگەکان و دەروازەکانی پارێزگاکان: بارهەڵگرەکانمان چەند چاوەڕێ دەکەن، و بۆچی",
    ),
    "tracker": Words(
        "Checkpoint clearance tracker", "متتبع التخليص في السيطرات", "چاودێری تێپەڕینی بازگەکان"
    ),
    "period": Words(
        "{month}, UTC calendar month",
        "{month}، شهر كامل بالتوقيت العالمي",
        "{month}، مانگێکی تەواو بە کاتی جیهانی",
    ),
    "generated": Words("Generated {date}", "أعدت في {date}", "ئامادەکراوە لە {date}"),
    # 1. The ranking
    "ranking": Words(
        "Checkpoints ranked by delay",
        "ترتيب السيطرات حسب التأخير",
        "ڕیزبەندی بازگەکان بەپێی دواکەوتن",
    ),
    "ranking_note": Words(
        "Worst first: the most delay hours (the time of all completed stops added up).",
        "الأسوأ أولا: أكثر ساعات التأخير (مجموع مدد كل التوقفات المكتملة).",
        "خراپترین لە سەرەوە: زۆرترین کاتژمێری دواکەوتن (کۆی ماوەی هەموو وەستانە تەواوبووەکان).",
    ),
    "rank": Words("#", "#", "#"),
    "checkpoint": Words("Checkpoint", "السيطرة", "بازگە"),
    "province": Words("Province", "المحافظة", "پارێزگا"),
    "completed_stops": Words("Completed stops", "التوقفات المكتملة", "وەستانە تەواوبووەکان"),
    "p50": Words("Median wait (min)", "وسيط الانتظار (دقيقة)", "ناوەندی چاوەڕوانی (خولەک)"),
    "p90": Words("90th percentile (min)", "المئين 90 (دقيقة)", "سەدیکی 90 (خولەک)"),
    "hold_rate": Words("Held", "نسبة الاحتجاز", "ڕێژەی ڕاگرتن"),
    "delay_hours": Words("Delay hours", "ساعات التأخير", "کاتژمێرەکانی دواکەوتن"),
    "suppressed": Words(
        "too few exporters to publish",
        "عدد المصدرين قليل جدا للنشر",
        "ژمارەی هەناردەکاران کەمترە لەوەی بڵاو بکرێتەوە",
    ),
    "no_stops": Words(
        "No stops were recorded this month.",
        "لم تسجل أي توقفات في هذا الشهر.",
        "هیچ وەستانێک لەم مانگەدا تۆمار نەکراوە.",
    ),
    "chart": Words(
        "Waiting time per checkpoint (minutes)",
        "مدة الانتظار في كل سيطرة (بالدقائق)",
        "ماوەی چاوەڕوانی لە هەر بازگەیەک (خولەک)",
    ),
    "median": Words("median", "الوسيط", "ناوەند"),
    "percentile90": Words("90th percentile", "المئين 90", "سەدیکی 90"),
    # 2. The changes
    "changes": Words(
        "Biggest changes compared with {month}",
        "أكبر التغييرات مقارنة بشهر {month}",
        "گەورەترین گۆڕانکارییەکان بەراورد بە {month}",
    ),
    "changes_note": Words(
        "Checkpoints published in both months, the largest change of the median wait first.",
        "السيطرات المنشورة في الشهرين، الأكبر تغيرا في وسيط الانتظار أولا.",
        "ئەو بازگانەی لە هەردوو مانگدا بڵاوکراونەتەوە، "
        "گەورەترین گۆڕانی ناوەندی چاوەڕوانی لە سەرەوە.",
    ),
    "change": Words("Change", "التغيير", "گۆڕان"),
    # Percentage points: a hold rate of 25% that becomes 33% changed by +8 of them.
    "points": Words("pts", "نقطة", "خاڵ"),
    "no_changes": Words(
        "No checkpoint has published figures in both months.",
        "لا توجد سيطرة لها أرقام منشورة في الشهرين.",
        "هیچ بازگەیەک لە هەردوو مانگەکەدا ژمارەی بڵاوکراوەی نییە.",
    ),
    # 3. The cases
    "cases": Words("Complaint cases", "قضايا الشكاوى", "دۆسیەکانی سکاڵا"),
    "cases_opened": Words("Submitted this month", "المقدمة في هذا الشهر", "پێشکەشکراو لەم مانگەدا"),
    "cases_resolved": Words(
        "Resolved this month", "التي حلت في هذا الشهر", "چارەسەرکراو لەم مانگەدا"
    ),
    "cases_open": Words(
        "Still open at the end of the month",
        "ما زالت مفتوحة في نهاية الشهر",
        "هێشتا کراوەن لە کۆتایی مانگدا",
    ),
    "reference": Words("Reference", "المرجع", "ژمارەی دۆسیە"),
    "case_title": Words("Title", "العنوان", "ناونیشان"),
    "category": Words("Category", "الفئة", "جۆر"),
    "status": Words("Status at month end", "الحالة في نهاية الشهر", "دۆخ لە کۆتایی مانگ"),
    "none": Words("None.", "لا شيء.", "هیچ."),
    # 4. Policy changes
    "policies": Words(
        "Policy changes and their measured effect",
        "التغييرات في الإجراءات وأثرها المقاس",
        "گۆڕانکارییەکانی ڕێکار و کاریگەرییە پێوراوەکانیان",
    ),
    "no_policies": Words(
        "No policy change was recorded for this month.",
        "لم يسجل أي تغيير في الإجراءات لهذا الشهر.",
        "هیچ گۆڕانکارییەکی ڕێکار بۆ ئەم مانگە تۆمار نەکراوە.",
    ),
    "policy": Words("Policy change", "التغيير", "گۆڕانکاری"),
    "effective": Words("In force from", "نافذ من", "کارپێکراو لە"),
    "median_change": Words(
        "Change of the median wait (min)",
        "تغير وسيط الانتظار (دقيقة)",
        "گۆڕانی ناوەندی چاوەڕوانی (خولەک)",
    ),
    "interval": Words("95% interval", "مجال الثقة 95%", "مەودای متمانەی 95%"),
    "insufficient": Words(
        "too few stops to measure", "التوقفات أقل من أن تقاس", "وەستانەکان کەمن بۆ پێوان"
    ),
    # The method
    "method": Words(
        "How to read these figures", "كيف تقرأ هذه الأرقام", "چۆن ئەم ژمارانە بخوێنیتەوە"
    ),
    "method_note": Words(
        "Only checkpoint-days with at least {k} exporters and {n} completed stops are counted, "
        "so that no figure points at one company's trucks; {x} stops were left out this month. "
        "A stop is one truck's visit, from arrival to release. Data as of {as_of} (UTC).",
        "تحسب فقط أيام السيطرات التي فيها {k} مصدرين على الأقل و{n} توقفات مكتملة، حتى لا يشير "
        "أي رقم إلى شاحنات شركة بعينها؛ استبعدت {x} توقفات في هذا الشهر. التوقف هو زيارة شاحنة "
        "واحدة، من الوصول إلى الإفراج. البيانات حتى {as_of} (بالتوقيت العالمي).",
        "تەنها ئەو ڕۆژانەی بازگە هەژمار دەکرێن کە لانیکەم {k} هەناردەکار و {n} وەستانی تەواوبوویان "
        "تێدایە، بۆ ئەوەی هیچ ژمارەیەک ئاماژە بە بارهەڵگرەکانی یەک کۆمپانیا نەکات؛ {x} وەستان لەم "
        "مانگەدا لابران. وەستان سەردانی یەک بارهەڵگرە، لە گەیشتنەوە تا ئازادکردن. داتا تا "
        "{as_of} (بە کاتی جیهانی).",
    ),
}

MONTHS: tuple[Words, ...] = (
    Words("January", "كانون الثاني", "کانوونی دووەم"),
    Words("February", "شباط", "شوبات"),
    Words("March", "آذار", "ئازار"),
    Words("April", "نيسان", "نیسان"),
    Words("May", "أيار", "ئایار"),
    Words("June", "حزيران", "حوزەیران"),
    Words("July", "تموز", "تەممووز"),
    Words("August", "آب", "ئاب"),
    Words("September", "أيلول", "ئەیلوول"),
    Words("October", "تشرين الأول", "تشرینی یەکەم"),
    Words("November", "تشرين الثاني", "تشرینی دووەم"),
    Words("December", "كانون الأول", "کانوونی یەکەم"),
)
