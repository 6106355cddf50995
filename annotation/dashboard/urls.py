from django.urls import path

from annotation.dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.batch_list, name="batches"),
    path("win-rates.png", views.win_rate_curve_chart, name="win-rate-curve"),
    path("batches/<int:batch_id>/", views.batch_detail, name="batch"),
    path("batches/<int:batch_id>/charts/<slug:name>.png", views.batch_chart, name="batch-chart"),
    path("batches/<int:batch_id>/export.jsonl", views.batch_export, name="batch-export"),
    path("batches/<int:batch_id>/review/", views.review, name="review"),
    path("batches/<int:batch_id>/jobs/", views.job_create, name="job-create"),
    path("batches/<int:batch_id>/<slug:action>/", views.batch_action, name="batch-action"),
    path("jobs/<int:job_id>/", views.job_detail, name="job"),
    path("jobs/<int:job_id>/cancel/", views.job_cancel_view, name="job-cancel"),
    path("jobs/<int:job_id>/rm-accuracy.png", views.rm_accuracy_chart, name="rm-accuracy-chart"),
    path("models/<int:version_id>/", views.model_version_detail, name="model-version"),
    path("models/<int:version_id>/curves.png", views.model_version_curves_chart, name="model-version-curves"),
    path("models/<int:version_id>/files.txt", views.model_version_files_listing, name="model-version-files"),
    path("models/<int:version_id>/current/", views.model_version_make_current, name="model-current"),
    path("annotators/<int:user_id>/", views.annotator_detail, name="annotator"),
    path("annotators/<int:user_id>/drift.png", views.annotator_chart, name="annotator-chart"),
]
